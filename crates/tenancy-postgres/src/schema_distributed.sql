-- Flametrench tenancy tables for Citus (the distributed layout, `Layout::Distributed`).
--
-- The same tables, columns, types and CHECK constraints as the single-node layout
-- (schema.sql), arranged so that Citus can distribute them by org and keep each org's rows on
-- one shard:
--   * usr is a reference table (a copy on every node);
--   * org is distributed by id; mem, inv, ft_org_lock by org_id and tup by object_id, all
--     co-located with org, so an org's memberships, invitations, lock row and membership tuples
--     share its shard;
--   * every primary key and unique constraint includes the distribution column: mem and inv are
--     keyed (org_id, id), tup (object_id, id), and a membership's `replaces` is a foreign key
--     (org_id, replaces) to mem (org_id, id);
--   * slugs are unique across the deployment through ft_org_slug, a registry distributed by
--     slug whose primary key is named org_slug_unique as the single-node unique index is: the
--     org writes that set or change a slug write its registry row in the same statement;
--   * the foreign keys are added after the tables are distributed, under the names PostgreSQL
--     gives the single-node layout's inline REFERENCES.
--
-- Statements are unqualified: the migration runs them with search_path set to the schema the
-- adopter chose, in one transaction, after `SET LOCAL citus.multi_shard_modify_mode TO
-- 'sequential'`.

CREATE TABLE usr (
    id            uuid PRIMARY KEY,
    status        text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'revoked')),
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
SELECT create_reference_table('usr');

CREATE TABLE org (
    id          uuid PRIMARY KEY,
    status      text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'revoked')),
    name        text,
    slug        text CONSTRAINT org_slug_format
                  CHECK (slug IS NULL OR slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
SELECT create_distributed_table('org', 'id');
CREATE INDEX org_status_idx ON org (status, id);

-- The slug registry: one row per org slug, whatever the org's status.
CREATE TABLE ft_org_slug (
    slug    text CONSTRAINT org_slug_unique PRIMARY KEY,
    org_id  uuid NOT NULL
);
SELECT create_distributed_table('ft_org_slug', 'slug');

CREATE TABLE mem (
    id          uuid NOT NULL,
    usr_id      uuid NOT NULL,
    org_id      uuid NOT NULL,
    role        text NOT NULL
                  CHECK (role IN ('owner', 'admin', 'member', 'guest', 'viewer', 'editor')),
    status      text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'revoked')),
    replaces    uuid,
    invited_by  uuid,
    removed_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
SELECT create_distributed_table('mem', 'org_id', colocate_with => 'org');
CREATE UNIQUE INDEX mem_unique_active ON mem (usr_id, org_id) WHERE status = 'active';
CREATE INDEX mem_org_idx ON mem (org_id, id);
CREATE INDEX mem_usr_idx ON mem (usr_id, id);
CREATE INDEX mem_id_idx ON mem (id);
CREATE INDEX mem_replaces_idx ON mem (replaces) WHERE replaces IS NOT NULL;
CREATE INDEX mem_active_owner_idx ON mem (org_id) WHERE status = 'active' AND role = 'owner';
CREATE INDEX mem_filter_idx ON mem ((org_id::text || '/' || status || '/' || role), id);

CREATE TABLE inv (
    id               uuid NOT NULL,
    org_id           uuid NOT NULL,
    identifier       text NOT NULL,
    role             text NOT NULL
                       CHECK (role IN ('owner', 'admin', 'member', 'guest', 'viewer', 'editor')),
    status           text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    pre_tuples       jsonb NOT NULL DEFAULT '[]',
    invited_by       uuid NOT NULL,
    invited_user_id  uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    terminal_at      timestamptz,
    terminal_by      uuid,
    CHECK ((status = 'pending') = (terminal_at IS NULL)),
    CHECK (expires_at > created_at),
    PRIMARY KEY (org_id, id)
);
SELECT create_distributed_table('inv', 'org_id', colocate_with => 'org');
CREATE INDEX inv_org_idx ON inv (org_id, id);
CREATE INDEX inv_id_idx ON inv (id);
CREATE INDEX inv_pending_idx ON inv (identifier) WHERE status = 'pending';
CREATE INDEX inv_filter_idx ON inv ((org_id::text || '/' || status), id);

CREATE TABLE tup (
    id            uuid NOT NULL,
    subject_type  text NOT NULL CHECK (subject_type ~ '^[a-z]{2,6}$'),
    subject_id    uuid NOT NULL,
    relation      text NOT NULL CHECK (relation ~ '^[a-z_]{2,32}$'),
    object_type   text NOT NULL CHECK (object_type ~ '^[a-z]{2,6}$'),
    object_id     uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid,
    PRIMARY KEY (object_id, id),
    UNIQUE (subject_type, subject_id, relation, object_type, object_id)
);
SELECT create_distributed_table('tup', 'object_id', colocate_with => 'org');
CREATE INDEX tup_id_idx ON tup (id);
CREATE INDEX tup_subject_page_idx ON tup ((subject_type || '/' || subject_id::text), id);
CREATE INDEX tup_object_page_idx ON tup ((object_type || '/' || object_id::text), id);
CREATE INDEX tup_object_relation_page_idx ON tup ((object_type || '/' || object_id::text || '/' || relation), id);

CREATE TABLE ft_org_lock (
    org_id   uuid PRIMARY KEY,
    version  bigint NOT NULL
);
SELECT create_distributed_table('ft_org_lock', 'org_id', colocate_with => 'org');

ALTER TABLE mem ADD CONSTRAINT mem_usr_id_fkey FOREIGN KEY (usr_id) REFERENCES usr (id);
ALTER TABLE mem ADD CONSTRAINT mem_org_id_fkey FOREIGN KEY (org_id) REFERENCES org (id);
ALTER TABLE mem ADD CONSTRAINT mem_replaces_fkey FOREIGN KEY (org_id, replaces) REFERENCES mem (org_id, id);
ALTER TABLE mem ADD CONSTRAINT mem_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES usr (id);
ALTER TABLE mem ADD CONSTRAINT mem_removed_by_fkey FOREIGN KEY (removed_by) REFERENCES usr (id);
ALTER TABLE inv ADD CONSTRAINT inv_org_id_fkey FOREIGN KEY (org_id) REFERENCES org (id);
ALTER TABLE inv ADD CONSTRAINT inv_invited_by_fkey FOREIGN KEY (invited_by) REFERENCES usr (id);
ALTER TABLE inv ADD CONSTRAINT inv_invited_user_id_fkey FOREIGN KEY (invited_user_id) REFERENCES usr (id);
ALTER TABLE inv ADD CONSTRAINT inv_terminal_by_fkey FOREIGN KEY (terminal_by) REFERENCES usr (id);
ALTER TABLE tup ADD CONSTRAINT tup_created_by_fkey FOREIGN KEY (created_by) REFERENCES usr (id);
