using Cairn.Core.State;
using Cairn.Store;
using Microsoft.Data.Sqlite;

namespace Cairn.Core.Tests.State;

/// <summary>The compliance suite on SQLite, plus what is SQLite's own: file format, pragmas, migrations.</summary>
public sealed class SqliteStateStoreTests : StateStoreCompliance
{
    private readonly TempDir _dir = new();

    private string DbPath => _dir.File("state.db");

    protected override IStateStore Open() => new SqliteStateStore(DbPath);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Tests pass constant SQL.")]
    private T Raw<T>(string sql)
    {
        using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DbPath, Pooling = false }.ToString());
        conn.Open();
        using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return (T)Convert.ChangeType(cmd.ExecuteScalar()!, typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Fresh_open_creates_the_latest_schema_in_wal_mode()
    {
        Assert.Equal(SqliteMigrationsAccess.Count, Store.SchemaVersion);
        Assert.Equal("wal", Raw<string>("PRAGMA journal_mode"));
        Assert.Equal((long)SqliteMigrationsAccess.Count, Raw<long>("SELECT COUNT(*) FROM schema_version"));
    }

    [Fact]
    public async Task Reopening_keeps_data_and_applies_no_migration_twice()
    {
        var v = Volume("pool/a");
        await Store.WriteAsync(w => w.Put(v), Ct);
        var store = Reopen();
        Assert.Equal(SqliteMigrationsAccess.Count, store.SchemaVersion);
        Assert.Equal((long)SqliteMigrationsAccess.Count, Raw<long>("SELECT COUNT(*) FROM schema_version"));
        Assert.NotNull(store.GetVolume(v.Id));
    }

    [Fact]
    public void Opening_a_schema_newer_than_the_code_is_refused()
    {
        Store.Dispose();
        Raw<long>("INSERT INTO schema_version (version, applied) VALUES (99, 'x'); SELECT 0");
        var ex = Assert.Throws<CairnException>(() => new SqliteStateStore(DbPath));
        Assert.Contains("newer", ex.Message, StringComparison.Ordinal);
        Assert.Contains("99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_older_schema_is_migrated_in_order_keeping_its_data()
    {
        var v1 = new[] { SqliteMigrationsAccess.First };
        using (var old = new SqliteStateStore(DbPath, v1))
            Assert.Equal(1, old.SchemaVersion);
        // A row as the first schema's code wrote it (no module column yet).
        Raw<long>("INSERT INTO volumes (id, project, name, status, size, created, updated) VALUES " +
            "('7d3f1a2e-0000-4000-8000-000000000001', 'admin', 'pool/kept', 'available', 1048576, '2026-01-01T00:00:00.0000000Z', '2026-01-01T00:00:00.0000000Z'); SELECT 0");
        var all = SqliteMigrationsAccess.All;
        var next = all.Concat(["CREATE TABLE extra (x INTEGER NOT NULL)", "INSERT INTO extra (x) SELECT COUNT(*) FROM extra"]).ToArray();
        using (var upgraded = new SqliteStateStore(DbPath, next))
        {
            Assert.Equal(next.Length, upgraded.SchemaVersion);
            var kept = upgraded.FindVolume("pool/kept");
            Assert.NotNull(kept);
            Assert.Equal(Modules.Admin, kept.Module); // migration 2 gives old records to the admin module
        }
        Assert.Equal(0L, Raw<long>("SELECT x FROM extra"));
        Assert.Equal((long)next.Length, Raw<long>("SELECT MAX(version) FROM schema_version"));
        Assert.Throws<CairnException>(() => new SqliteStateStore(DbPath, v1));
    }

    [Fact]
    public void A_failing_migration_leaves_the_schema_as_it_was()
    {
        using (new SqliteStateStore(DbPath, [SqliteMigrationsAccess.First])) { }
        Assert.ThrowsAny<SqliteException>(() => new SqliteStateStore(DbPath, [SqliteMigrationsAccess.First, "CREATE TABLE ok (x INTEGER)", "NOT SQL"]));
        Assert.Equal(1L, Raw<long>("SELECT MAX(version) FROM schema_version"));
        Assert.Equal(0L, Raw<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'ok'"));
    }

    [Fact]
    public async Task Writes_after_dispose_are_refused()
    {
        var store = Store;
        store.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.WriteAsync(w => w.Put(Volume("pool/x")), Ct));
    }
}

internal static class SqliteMigrationsAccess
{
    public static string First => Migrations.All[0];
    public static IReadOnlyList<string> All => Migrations.All;
    public static int Count => Migrations.All.Count;
}
