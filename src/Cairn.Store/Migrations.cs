namespace Cairn.Store;

/// <summary>
/// Ordered schema migrations: script i brings the schema to version i + 1. Append only; never edit a shipped script.
/// SQL kept to what SQLite and PostgreSQL share (TEXT, INTEGER, REAL, plain indexes) so a PostgreSQL store can follow.
/// Times are TEXT in ISO 8601 UTC with fixed width, so they sort as they compare.
/// </summary>
internal static class Migrations
{
    public static readonly IReadOnlyList<string> All =
    [
        // 1: volumes, snapshots, targets, jobs with items and logs.
        """
        CREATE TABLE volumes (
            id TEXT NOT NULL PRIMARY KEY,
            project TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            size INTEGER NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            attributes TEXT NULL);
        CREATE UNIQUE INDEX volumes_name ON volumes (name);
        CREATE INDEX volumes_project ON volumes (project, name);

        CREATE TABLE snapshots (
            id TEXT NOT NULL PRIMARY KEY,
            volume_id TEXT NOT NULL,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            size INTEGER NOT NULL,
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            attributes TEXT NULL);
        CREATE INDEX snapshots_volume ON snapshots (volume_id, created);

        CREATE TABLE targets (
            iqn TEXT NOT NULL PRIMARY KEY,
            luns TEXT NOT NULL,
            initiators TEXT NOT NULL,
            chap TEXT NULL,
            mutual_chap TEXT NULL,
            portal TEXT NULL,
            created TEXT NOT NULL,
            attributes TEXT NULL);

        CREATE TABLE jobs (
            id TEXT NOT NULL PRIMARY KEY,
            type TEXT NOT NULL,
            state TEXT NOT NULL,
            phase TEXT NULL,
            progress REAL NOT NULL,
            created TEXT NOT NULL,
            started TEXT NULL,
            finished TEXT NULL,
            error TEXT NULL,
            request TEXT NULL,
            data TEXT NULL,
            steps TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            cancel_requested INTEGER NOT NULL,
            conflict_keys TEXT NULL);
        CREATE INDEX jobs_created ON jobs (created, id);
        CREATE INDEX jobs_state ON jobs (state, created);
        CREATE INDEX jobs_finished ON jobs (finished);

        CREATE TABLE job_items (
            job_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            item_key TEXT NOT NULL,
            state TEXT NOT NULL,
            error TEXT NULL,
            started TEXT NULL,
            finished TEXT NULL,
            data TEXT NULL,
            PRIMARY KEY (job_id, idx));

        CREATE TABLE job_logs (
            job_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            time TEXT NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (job_id, seq));
        """,
        // 2: records owned by modules; pools created explicitly (older data directories adopt their implicit pools).
        """
        ALTER TABLE volumes ADD COLUMN module TEXT NOT NULL DEFAULT 'admin';
        ALTER TABLE snapshots ADD COLUMN module TEXT NOT NULL DEFAULT 'admin';
        CREATE TABLE pools (
            name TEXT NOT NULL PRIMARY KEY,
            engine TEXT NOT NULL,
            created TEXT NOT NULL,
            attributes TEXT NULL);
        """,
        // 3: module documents (records a module keeps for itself as JSON: users, tokens, volume types, quotas, …).
        """
        CREATE TABLE documents (
            module TEXT NOT NULL,
            kind TEXT NOT NULL,
            doc_key TEXT NOT NULL,
            project TEXT NULL,
            body TEXT NOT NULL,
            updated TEXT NOT NULL,
            PRIMARY KEY (module, kind, doc_key));
        CREATE INDEX documents_project ON documents (module, kind, project, doc_key);
        """,
    ];
}
