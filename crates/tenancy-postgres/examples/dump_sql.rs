//! Throwaway.
fn main() {
    for name in std::env::args().skip(1) {
        let text = flametrench_tenancy_postgres::testing::statement_text("t2", &name).unwrap();
        println!("{text};");
    }
}
