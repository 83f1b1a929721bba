-- Flametrench tenancy tables for PostgreSQL (13 or newer).
--
-- The tables, columns, types, CHECK constraints and the unique and partial indexes follow the
-- Flametrench reference schema, so a database set up by any Flametrench SDK is usable by any
-- other. Ids are native uuids (the prefixed wire form is computed by the SDK and never stored);
-- timestamps are timestamptz and are always written by the SDK from its clock.
--
-- Differences from the reference DDL, none of which changes a table's shape:
--   * no pgcrypto extension and no updated_at trigger: the SDK writes every id and timestamp;
--   * the reference's non-unique indexes on mem (org_id), mem (usr_id) and inv (org_id) carry
--     the id as a second column, so the same index serves keyset pagination;
--   * no separate index on tup (subject_type, subject_id): the natural-key UNIQUE constraint
--     starts with those columns and serves the same lookups, one index fewer per write;
--   * an extra partial index, marked "speed" below, serves the active-owner count;
--   * the indexes marked "pages" below serve the filtered and paged reads, each as one ordered
--     range (spec/postgres.md, "Plans"); a composite owner (an org and a status) is one text
--     key, so that it is the index's first column; tup_object_relation_page_idx takes the
--     place of the reference's tup_object_relation_idx (by object, by object and relation);
--   * where the pg_trgm extension can be had, the migration adds a trigram index on the org's
--     name and slug for list_orgs' query (org_search_idx); it is not part of this file;
--   * one table of the SDK's own, ft_org_lock, holds a lock row per org: every write to an org
--     updates it, so transactions at any isolation level are ordered by it (see
--     spec/postgres.md, "Locking and isolation"). Nothing else reads it.
--
-- Statements are unqualified: the migration runs them with search_path set to the schema the
-- adopter chose.

CREATE TABLE usr (
    id            uuid PRIMARY KEY,
    status        text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'revoked')),
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

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

-- Slugs are unique among orgs that have one, whatever their status.
CREATE UNIQUE INDEX org_slug_unique ON org (slug) WHERE slug IS NOT NULL;
-- Pages: list_orgs with a status filter.
CREATE INDEX IF NOT EXISTS org_status_idx ON org (status, id);

CREATE TABLE mem (
    id          uuid PRIMARY KEY,
    usr_id      uuid NOT NULL REFERENCES usr(id),
    org_id      uuid NOT NULL REFERENCES org(id),
    role        text NOT NULL
                  CHECK (role IN ('owner', 'admin', 'member', 'guest', 'viewer', 'editor')),
    status      text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'revoked')),
    replaces    uuid REFERENCES mem(id),
    invited_by  uuid REFERENCES usr(id),
    removed_by  uuid REFERENCES usr(id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One active membership per (user, org); history rows accumulate.
CREATE UNIQUE INDEX mem_unique_active ON mem (usr_id, org_id) WHERE status = 'active';
CREATE INDEX mem_org_idx ON mem (org_id, id);
CREATE INDEX mem_usr_idx ON mem (usr_id, id);
CREATE INDEX mem_replaces_idx ON mem (replaces) WHERE replaces IS NOT NULL;
-- Speed: the active-owner count of every sole-owner check.
CREATE INDEX mem_active_owner_idx ON mem (org_id) WHERE status = 'active' AND role = 'owner';
-- Pages: list_members with a status or role filter.
CREATE INDEX IF NOT EXISTS mem_filter_idx ON mem ((org_id::text || '/' || status || '/' || role), id);

CREATE TABLE inv (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES org(id),
    identifier       text NOT NULL,
    role             text NOT NULL
                       CHECK (role IN ('owner', 'admin', 'member', 'guest', 'viewer', 'editor')),
    status           text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    pre_tuples       jsonb NOT NULL DEFAULT '[]',
    invited_by       uuid NOT NULL REFERENCES usr(id),
    invited_user_id  uuid REFERENCES usr(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    terminal_at      timestamptz,
    terminal_by      uuid REFERENCES usr(id),
    CHECK ((status = 'pending') = (terminal_at IS NULL)),
    CHECK (expires_at > created_at)
);

CREATE INDEX inv_org_idx ON inv (org_id, id);
CREATE INDEX inv_pending_idx ON inv (identifier) WHERE status = 'pending';
-- Pages: list_invitations with a status filter.
CREATE INDEX IF NOT EXISTS inv_filter_idx ON inv ((org_id::text || '/' || status), id);

CREATE TABLE tup (
    id            uuid PRIMARY KEY,
    subject_type  text NOT NULL CHECK (subject_type ~ '^[a-z]{2,6}$'),
    subject_id    uuid NOT NULL,
    relation      text NOT NULL CHECK (relation ~ '^[a-z_]{2,32}$'),
    object_type   text NOT NULL CHECK (object_type ~ '^[a-z]{2,6}$'),
    object_id     uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid REFERENCES usr(id),
    UNIQUE (subject_type, subject_id, relation, object_type, object_id)
);

-- Pages: the tuple reads by subject, by object, and by object and relation.
CREATE INDEX IF NOT EXISTS tup_subject_page_idx ON tup ((subject_type || '/' || subject_id::text), id);
CREATE INDEX IF NOT EXISTS tup_object_page_idx ON tup ((object_type || '/' || object_id::text), id);
CREATE INDEX IF NOT EXISTS tup_object_relation_page_idx ON tup ((object_type || '/' || object_id::text || '/' || relation), id);

-- The SDK's per-org lock rows, created on an org's first write. No foreign key: the row is
-- only ever upserted, and an org's deletion by other tools leaves a harmless row behind.
CREATE TABLE IF NOT EXISTS ft_org_lock (
    org_id   uuid PRIMARY KEY,
    version  bigint NOT NULL
);
