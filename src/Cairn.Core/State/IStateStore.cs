namespace Cairn.Core.State;

/// <summary>Mutations of one durable transaction.</summary>
public interface IStateWriter
{
    void Put(VolumeRecord volume);
    void DeleteVolume(Guid id);
    void Put(SnapshotRecord snapshot);
    void DeleteSnapshot(Guid id);
    void Put(TargetRecord target);
    void DeleteTarget(string iqn);
    void Put(JobRecord job);
    void DeleteJob(Guid id);
    void Put(JobItem item);
    void AppendLog(Guid jobId, string level, string message);
    void Put(PoolRecord pool);
    void DeletePool(string name);
    void Put(DocumentRecord document);
    void DeleteDocument(string module, string kind, string key);
}

/// <summary>
/// The control plane's durable records (SQLite by default; PostgreSQL can follow). Reads are consistent
/// snapshots; WriteAsync is one durable transaction, group-committed with concurrent writers,
/// durable when the task completes.
/// </summary>
public interface IStateStore : IDisposable
{
    /// <summary>Applies <paramref name="changes"/> in one transaction; all or nothing; durable on completion.</summary>
    Task WriteAsync(Action<IStateWriter> changes, CancellationToken ct = default);

    /// <summary>
    /// Transactions committed so far, advanced after each commit is visible to reads: a read made after reading N
    /// sees every change of the first N commits, so a cache of reads keyed by it is stale exactly when it moved.
    /// </summary>
    long Commits { get; }

    /// <summary>
    /// Like the two-argument WriteAsync; with <paramref name="durable"/> false the
    /// commit may skip the sync (atomic, but a crash may lose it). Only for records that can be rebuilt after a crash.
    /// </summary>
    Task WriteAsync(Action<IStateWriter> changes, bool durable, CancellationToken ct = default) => WriteAsync(changes, ct);

    VolumeRecord? GetVolume(Guid id);
    VolumeRecord? FindVolume(string name);

    /// <summary>The records of those of <paramref name="names"/> that have one, in one read (a batch's ownership checks).</summary>
    IReadOnlyList<VolumeRecord> FindVolumes(IReadOnlyCollection<string> names);
    IReadOnlyList<VolumeRecord> ListVolumes(string? project = null);

    SnapshotRecord? GetSnapshot(Guid id);
    IReadOnlyList<SnapshotRecord> ListSnapshots(Guid? volumeId = null);

    IReadOnlyList<PoolRecord> ListPools();

    /// <summary>One module document, or null.</summary>
    DocumentRecord? GetDocument(string module, string kind, string key);

    /// <summary>A module's documents of one kind (of one project when given), ordered by key.</summary>
    IReadOnlyList<DocumentRecord> ListDocuments(string module, string kind, string? project = null);

    TargetRecord? GetTarget(string iqn);
    IReadOnlyList<TargetRecord> ListTargets();

    JobRecord? GetJob(Guid id);
    /// <summary>Newest first.</summary>
    IReadOnlyList<JobRecord> ListJobs(JobState? state = null, int limit = 1000);
    IReadOnlyList<JobItem> ListJobItems(Guid jobId);
    IReadOnlyList<JobLogEntry> ListJobLogs(Guid jobId, long afterSeq = 0, int limit = 1000);

    /// <summary>
    /// Ids of finished jobs (succeeded, failed or cancelled) that retention should delete: those finished before
    /// <paramref name="finishedBefore"/>, and those beyond the newest <paramref name="keepNewest"/> finished jobs.
    /// Stores should override this with one query; the default reads whole job records.
    /// </summary>
    IReadOnlyList<Guid> ListExpiredJobs(DateTimeOffset finishedBefore, int keepNewest)
    {
        var finished = ListJobs(JobState.Succeeded, int.MaxValue)
            .Concat(ListJobs(JobState.Failed, int.MaxValue))
            .Concat(ListJobs(JobState.Cancelled, int.MaxValue))
            .OrderByDescending(j => j.Finished ?? j.Created)
            .ToList();
        return finished.Where((j, i) => i >= keepNewest || (j.Finished ?? j.Created) < finishedBefore).Select(j => j.Id).ToList();
    }

    /// <summary>Schema version the store is at.</summary>
    int SchemaVersion { get; }
}
