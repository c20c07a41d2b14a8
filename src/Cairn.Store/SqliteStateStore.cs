using Cairn.Core;
using Cairn.Core.State;
using Microsoft.Data.Sqlite;

namespace Cairn.Store;

/// <summary>
/// <see cref="IStateStore"/> on one SQLite file in WAL mode with <c>synchronous=FULL</c>. Writes are group-committed by
/// one committer at a time (see <c>SqliteStateStore.Writes.cs</c>); reads use a pool of read connections.
/// </summary>
public sealed partial class SqliteStateStore : IStateStore
{
    private readonly ReadPool _reads;

    /// <summary>Opens (creating if needed) the store at <paramref name="path"/> and applies pending schema migrations.</summary>
    /// <exception cref="CairnException">The file's schema is newer than this build knows.</exception>
    public SqliteStateStore(string path) : this(path, Migrations.All) { }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The connection is disposed if migrating fails, else owned by the writer.")]
    internal SqliteStateStore(string path, IReadOnlyList<string> migrations)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Path = System.IO.Path.GetFullPath(path);
        var conn = Sql.Open(Path, readOnly: false);
        try
        {
            SchemaVersion = Migrate(conn, migrations);
        }
        catch
        {
            conn.Dispose();
            throw;
        }
        _reads = new ReadPool(Path, keep: Math.Max(4, Environment.ProcessorCount * 2));
        _writer = new Writer(conn);
    }

    /// <summary>Full path of the database file.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public int SchemaVersion { get; }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Migrations are compile-time SQL from Migrations.All.")]
    private static int Migrate(SqliteConnection conn, IReadOnlyList<string> migrations)
    {
        using var tx = conn.BeginTransaction();
        using var cmd = conn.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL PRIMARY KEY, applied TEXT NOT NULL)";
        cmd.ExecuteNonQuery();
        cmd.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
        var current = Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
        if (current > migrations.Count)
        {
            throw new CairnException(ErrorKind.Conflict,
                $"state database schema version {current} is newer than this build knows ({migrations.Count}); upgrade Cairn");
        }
        for (var v = current + 1; v <= migrations.Count; v++)
        {
            cmd.CommandText = migrations[v - 1];
            cmd.ExecuteNonQuery();
            cmd.CommandText = "INSERT INTO schema_version (version, applied) VALUES (@p0, @p1)";
            Sql.Bind(cmd, [v, Sql.Time(DateTimeOffset.UtcNow)]);
            cmd.ExecuteNonQuery();
            cmd.Parameters.Clear();
        }
        tx.Commit();
        return migrations.Count;
    }

    // ---- reads ----

    private const string VolumeColumns = "id, project, name, status, size, created, updated, attributes, module";
    private const string SnapshotColumns = "id, volume_id, name, status, size, created, updated, attributes, module";
    private const string TargetColumns = "iqn, luns, initiators, chap, mutual_chap, portal, created, attributes";
    private const string JobColumns = "id, type, state, phase, progress, created, started, finished, error, request, data, steps, attempts, cancel_requested, conflict_keys";
    private const string ItemColumns = "job_id, idx, item_key, state, error, started, finished, data";
    private static readonly string[] FinishedStates = [nameof(JobState.Succeeded), nameof(JobState.Failed), nameof(JobState.Cancelled)];

    /// <inheritdoc />
    public VolumeRecord? GetVolume(Guid id) =>
        _reads.Query($"SELECT {VolumeColumns} FROM volumes WHERE id = @p0", ReadVolume, Sql.Id(id)).FirstOrDefault();

    /// <inheritdoc />
    public VolumeRecord? FindVolume(string name) =>
        _reads.Query($"SELECT {VolumeColumns} FROM volumes WHERE name = @p0", ReadVolume, name).FirstOrDefault();

    /// <inheritdoc />
    public IReadOnlyList<VolumeRecord> FindVolumes(IReadOnlyCollection<string> names) => names.Count == 0
        ? []
        // One statement for any number of names: the names travel as one JSON array parameter.
        : _reads.Query($"SELECT {VolumeColumns} FROM volumes WHERE name IN (SELECT value FROM json_each(@p0))", ReadVolume,
            Sql.Ser(names.ToArray()));

    /// <inheritdoc />
    public IReadOnlyList<VolumeRecord> ListVolumes(string? project = null) => project is null
        ? _reads.Query($"SELECT {VolumeColumns} FROM volumes ORDER BY name", ReadVolume)
        : _reads.Query($"SELECT {VolumeColumns} FROM volumes WHERE project = @p0 ORDER BY name", ReadVolume, project);

    /// <inheritdoc />
    public SnapshotRecord? GetSnapshot(Guid id) =>
        _reads.Query($"SELECT {SnapshotColumns} FROM snapshots WHERE id = @p0", ReadSnapshot, Sql.Id(id)).FirstOrDefault();

    /// <inheritdoc />
    public IReadOnlyList<SnapshotRecord> ListSnapshots(Guid? volumeId = null) => volumeId is { } v
        ? _reads.Query($"SELECT {SnapshotColumns} FROM snapshots WHERE volume_id = @p0 ORDER BY created, name", ReadSnapshot, Sql.Id(v))
        : _reads.Query($"SELECT {SnapshotColumns} FROM snapshots ORDER BY volume_id, created, name", ReadSnapshot);

    /// <inheritdoc />
    public IReadOnlyList<PoolRecord> ListPools() =>
        _reads.Query("SELECT name, engine, created, attributes FROM pools ORDER BY name",
            r => new PoolRecord(r.GetString(0), r.GetString(1), Sql.ReadTime(r, 2), Sql.ReadObject(r, 3)));

    private const string DocumentColumns = "module, kind, doc_key, project, body, updated";

    private static DocumentRecord ReadDocument(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), Sql.ReadStringOrNull(r, 3), Sql.ReadObject(r, 4)!, Sql.ReadTime(r, 5));

    /// <inheritdoc />
    public DocumentRecord? GetDocument(string module, string kind, string key) =>
        _reads.Query($"SELECT {DocumentColumns} FROM documents WHERE module = @p0 AND kind = @p1 AND doc_key = @p2",
            ReadDocument, module, kind, key).FirstOrDefault();

    /// <inheritdoc />
    public IReadOnlyList<DocumentRecord> ListDocuments(string module, string kind, string? project = null) => project is null
        ? _reads.Query($"SELECT {DocumentColumns} FROM documents WHERE module = @p0 AND kind = @p1 ORDER BY doc_key", ReadDocument, module, kind)
        : _reads.Query($"SELECT {DocumentColumns} FROM documents WHERE module = @p0 AND kind = @p1 AND project = @p2 ORDER BY doc_key",
            ReadDocument, module, kind, project);

    /// <inheritdoc />
    public TargetRecord? GetTarget(string iqn) =>
        _reads.Query($"SELECT {TargetColumns} FROM targets WHERE iqn = @p0", ReadTarget, iqn).FirstOrDefault();

    /// <inheritdoc />
    public IReadOnlyList<TargetRecord> ListTargets() =>
        _reads.Query($"SELECT {TargetColumns} FROM targets ORDER BY iqn", ReadTarget);

    /// <inheritdoc />
    public JobRecord? GetJob(Guid id) =>
        _reads.Query($"SELECT {JobColumns} FROM jobs WHERE id = @p0", ReadJob, Sql.Id(id)).FirstOrDefault();

    /// <inheritdoc />
    public IReadOnlyList<JobRecord> ListJobs(JobState? state = null, int limit = 1000) => state is { } s
        ? _reads.Query($"SELECT {JobColumns} FROM jobs WHERE state = @p0 ORDER BY created DESC, id DESC LIMIT @p1", ReadJob, s.ToString(), limit)
        : _reads.Query($"SELECT {JobColumns} FROM jobs ORDER BY created DESC, id DESC LIMIT @p0", ReadJob, limit);

    /// <inheritdoc />
    public IReadOnlyList<JobItem> ListJobItems(Guid jobId) =>
        _reads.Query($"SELECT {ItemColumns} FROM job_items WHERE job_id = @p0 ORDER BY idx", r => ReadItem(r, jobId), Sql.Id(jobId));

    /// <inheritdoc />
    public IReadOnlyList<JobLogEntry> ListJobLogs(Guid jobId, long afterSeq = 0, int limit = 1000) =>
        _reads.Query("SELECT job_id, seq, time, level, message FROM job_logs WHERE job_id = @p0 AND seq > @p1 ORDER BY seq LIMIT @p2",
            r => new JobLogEntry(Guid.Parse(r.GetString(0)), r.GetInt64(1), Sql.ReadTime(r, 2), r.GetString(3), r.GetString(4)),
            Sql.Id(jobId), afterSeq, limit);

    /// <inheritdoc />
    public IReadOnlyList<Guid> ListExpiredJobs(DateTimeOffset finishedBefore, int keepNewest) =>
        _reads.Query(
            "SELECT id FROM jobs WHERE state IN (@p0, @p1, @p2) AND (finished < @p3 OR id NOT IN " +
            "(SELECT id FROM jobs WHERE state IN (@p0, @p1, @p2) ORDER BY finished DESC, id DESC LIMIT @p4))",
            r => Guid.Parse(r.GetString(0)),
            FinishedStates[0], FinishedStates[1], FinishedStates[2], Sql.Time(finishedBefore), Math.Max(0, keepNewest));

    private static VolumeRecord ReadVolume(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4),
        Sql.ReadTime(r, 5), Sql.ReadTime(r, 6), Sql.ReadObject(r, 7), r.GetString(8));

    private static SnapshotRecord ReadSnapshot(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)), Guid.Parse(r.GetString(1)), r.GetString(2), r.GetString(3), r.GetInt64(4),
        Sql.ReadTime(r, 5), Sql.ReadTime(r, 6), Sql.ReadObject(r, 7), r.GetString(8));

    private static TargetRecord ReadTarget(SqliteDataReader r) => new(
        r.GetString(0),
        Sql.De<List<TargetLun>>(r, 1) ?? [],
        Sql.De<List<string>>(r, 2) ?? [],
        Sql.De<ChapCredential>(r, 3),
        Sql.De<ChapCredential>(r, 4),
        Sql.ReadStringOrNull(r, 5),
        Sql.ReadTime(r, 6),
        Sql.ReadObject(r, 7));

    private static JobRecord ReadJob(SqliteDataReader r) => new(
        Guid.Parse(r.GetString(0)),
        r.GetString(1),
        Enum.Parse<JobState>(r.GetString(2)),
        Sql.ReadStringOrNull(r, 3),
        r.GetDouble(4),
        Sql.ReadTime(r, 5),
        Sql.ReadTimeOrNull(r, 6),
        Sql.ReadTimeOrNull(r, 7),
        Sql.ReadStringOrNull(r, 8),
        Sql.ReadNode(r, 9),
        Sql.ReadObject(r, 10),
        Sql.De<List<JobStep>>(r, 11) ?? [],
        r.GetInt32(12),
        r.GetInt64(13) != 0,
        Sql.De<List<string>>(r, 14));

    private static JobItem ReadItem(SqliteDataReader r, Guid jobId) => new(
        jobId, r.GetInt32(1), r.GetString(2), Enum.Parse<ItemState>(r.GetString(3)),
        Sql.ReadStringOrNull(r, 4), Sql.ReadTimeOrNull(r, 5), Sql.ReadTimeOrNull(r, 6), Sql.ReadObject(r, 7));
}
