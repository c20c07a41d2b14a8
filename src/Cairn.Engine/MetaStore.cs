using Microsoft.Data.Sqlite;

namespace Cairn.Engine;

/// <summary>A change to the engine's metadata, captured when the operation runs and written at the next group commit.</summary>
internal abstract record Change
{
    public sealed record PutDataset(long Key, Guid Id, string Name, int Kind, long Size, long? Top, long? Origin, long Created) : Change;
    public sealed record DeleteDataset(long Key) : Change;
    public sealed record PutSnapshot(long Key, Guid Id, long Dataset, string Name, long Layer, long Size, long Created) : Change;
    public sealed record DeleteSnapshot(long Key) : Change;
    public sealed record PutLayer(long Id, long? Parent, long Owner, bool Hidden) : Change;
    public sealed record DeleteLayer(long Id) : Change;
}

internal sealed record DatasetRow(long Key, Guid Id, string Name, int Kind, long Size, long? Top, long? Origin, long Created);
internal sealed record SnapshotRow(long Key, Guid Id, long Dataset, string Name, long Layer, long Size, long Created);
internal sealed record LayerRow(long Id, long? Parent, long Owner, bool Hidden);

/// <summary>Engine metadata in SQLite (WAL): datasets, snapshots, layers. One transaction per group commit.</summary>
internal sealed class MetaStore : IDisposable
{
    private const int SchemaVersion = 1;
    private readonly SqliteConnection _conn;

    public MetaStore(string path, bool durable)
    {
        _conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _conn.Open();
        Exec("PRAGMA journal_mode=WAL");
        Exec(durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
        Exec("""
            CREATE TABLE IF NOT EXISTS datasets(key INTEGER PRIMARY KEY, id TEXT NOT NULL, name TEXT NOT NULL,
                kind INTEGER NOT NULL, size INTEGER NOT NULL, top INTEGER, origin INTEGER, created INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS snapshots(key INTEGER PRIMARY KEY, id TEXT NOT NULL, dataset INTEGER NOT NULL,
                name TEXT NOT NULL, layer INTEGER NOT NULL, size INTEGER NOT NULL, created INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS layers(id INTEGER PRIMARY KEY, parent INTEGER, owner INTEGER NOT NULL, hidden INTEGER NOT NULL);
            """);
        using var v = _conn.CreateCommand();
        v.CommandText = "PRAGMA user_version";
        var version = Convert.ToInt32(v.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (version > SchemaVersion) throw new InvalidOperationException($"pool metadata schema {version} is newer than this engine ({SchemaVersion})");
        if (version < SchemaVersion) Exec($"PRAGMA user_version={SchemaVersion}");
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "The SQL is compile-time text from this assembly; values are bound as parameters.")]
    private void Exec(string sql)
    {
        using var c = _conn.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    public (List<DatasetRow>, List<SnapshotRow>, List<LayerRow>) LoadAll()
    {
        var ds = new List<DatasetRow>();
        var snaps = new List<SnapshotRow>();
        var layers = new List<LayerRow>();
        using (var c = _conn.CreateCommand())
        {
            c.CommandText = "SELECT key, id, name, kind, size, top, origin, created FROM datasets ORDER BY key";
            using var r = c.ExecuteReader();
            while (r.Read())
                ds.Add(new(r.GetInt64(0), Guid.Parse(r.GetString(1)), r.GetString(2), r.GetInt32(3), r.GetInt64(4),
                    r.IsDBNull(5) ? null : r.GetInt64(5), r.IsDBNull(6) ? null : r.GetInt64(6), r.GetInt64(7)));
        }
        using (var c = _conn.CreateCommand())
        {
            c.CommandText = "SELECT key, id, dataset, name, layer, size, created FROM snapshots ORDER BY key";
            using var r = c.ExecuteReader();
            while (r.Read())
                snaps.Add(new(r.GetInt64(0), Guid.Parse(r.GetString(1)), r.GetInt64(2), r.GetString(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)));
        }
        using (var c = _conn.CreateCommand())
        {
            c.CommandText = "SELECT id, parent, owner, hidden FROM layers ORDER BY id";
            using var r = c.ExecuteReader();
            while (r.Read())
                layers.Add(new(r.GetInt64(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.GetInt64(2), r.GetInt64(3) != 0));
        }
        return (ds, snaps, layers);
    }

    /// <summary>Writes all changes in one transaction: one WAL sync for the whole group.</summary>
    public void Commit(List<Change> changes)
    {
        using var tx = _conn.BeginTransaction();
        var cmds = new Dictionary<string, SqliteCommand>();
        try
        {
            foreach (var change in changes)
            {
                switch (change)
                {
                    case Change.PutDataset d:
                        Run(cmds, tx, "INSERT OR REPLACE INTO datasets(key, id, name, kind, size, top, origin, created) VALUES($a,$b,$c,$d,$e,$f,$g,$h)",
                            d.Key, d.Id.ToString(), d.Name, d.Kind, d.Size, d.Top, d.Origin, d.Created);
                        break;
                    case Change.DeleteDataset d:
                        Run(cmds, tx, "DELETE FROM datasets WHERE key=$a", d.Key);
                        break;
                    case Change.PutSnapshot s:
                        Run(cmds, tx, "INSERT OR REPLACE INTO snapshots(key, id, dataset, name, layer, size, created) VALUES($a,$b,$c,$d,$e,$f,$g)",
                            s.Key, s.Id.ToString(), s.Dataset, s.Name, s.Layer, s.Size, s.Created);
                        break;
                    case Change.DeleteSnapshot s:
                        Run(cmds, tx, "DELETE FROM snapshots WHERE key=$a", s.Key);
                        break;
                    case Change.PutLayer l:
                        Run(cmds, tx, "INSERT OR REPLACE INTO layers(id, parent, owner, hidden) VALUES($a,$b,$c,$d)",
                            l.Id, l.Parent, l.Owner, l.Hidden ? 1 : 0);
                        break;
                    case Change.DeleteLayer l:
                        Run(cmds, tx, "DELETE FROM layers WHERE id=$a", l.Id);
                        break;
                }
            }
            tx.Commit();
        }
        finally
        {
            foreach (var c in cmds.Values) c.Dispose();
        }
    }

    private static readonly string[] ParamNames = ["$a", "$b", "$c", "$d", "$e", "$f", "$g", "$h"];

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "The SQL is compile-time text from this assembly; values are bound as parameters.")]
    private void Run(Dictionary<string, SqliteCommand> cmds, SqliteTransaction tx, string sql, params object?[] values)
    {
        if (!cmds.TryGetValue(sql, out var cmd))
        {
            cmd = _conn.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = sql;
            for (int i = 0; i < values.Length; i++) cmd.Parameters.Add(new SqliteParameter(ParamNames[i], null));
            cmd.Prepare();
            cmds[sql] = cmd;
        }
        for (int i = 0; i < values.Length; i++) cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
        cmd.ExecuteNonQuery();
    }

    public void Dispose() => _conn.Dispose();
}
