//! Runs the example service: PostgreSQL when `DATABASE_URL` is set, memory otherwise, on
//! `127.0.0.1:3000` or the port in `PORT`.

use flametrench_example_service::{StartError, router, state_from_env};

#[tokio::main]
async fn main() -> Result<(), StartError> {
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse::<u16>()
            .map_err(|_| format!("PORT is not a port number: {port:?}"))?,
        Err(_) => 3000,
    };
    let state = state_from_env().await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "listening on http://{} ({} store)",
        listener.local_addr()?,
        state.store_name()
    );
    axum::serve(listener, router(state)).await?;
    Ok(())
}
