using System.Text.Json.Nodes;

namespace Cairn.Core.State;

/// <summary>Control-plane record of a volume. The engine is the truth for existence and data; this adds identity and API state.</summary>
/// <param name="Id">UUID, stable for the volume's life (Block Storage API id).</param>
/// <param name="Project">Owning project ("admin" for the admin API).</param>
/// <param name="Name">Engine dataset name, <c>pool/a/b</c>.</param>
/// <param name="Status">creating, available, in-use, deleting, error, … (free text per API).</param>
/// <param name="Size">Bytes.</param>
/// <param name="Created">Creation time (UTC).</param>
/// <param name="Updated">Last change (UTC).</param>
/// <param name="Attributes">API-specific fields (display name, description, metadata…); null when none.</param>
/// <param name="Module">The module that created and owns the record (<see cref="Modules"/>): only it changes or deletes it,
/// and its reconcile decides what a missing dataset means.</param>
public sealed record VolumeRecord(Guid Id, string Project, string Name, string Status, long Size, DateTimeOffset Created, DateTimeOffset Updated, JsonObject? Attributes = null, string Module = Modules.Admin);

/// <summary>Control-plane record of a snapshot.</summary>
public sealed record SnapshotRecord(Guid Id, Guid VolumeId, string Name, string Status, long Size, DateTimeOffset Created, DateTimeOffset Updated, JsonObject? Attributes = null, string Module = Modules.Admin);

/// <summary>Names of the modules that own records.</summary>
public static class Modules
{
    /// <summary>The admin API and CLI, and the LUN clone API (whose volumes are admin volumes).</summary>
    public const string Admin = "admin";
    /// <summary>The Block Storage (Cinder) API.</summary>
    public const string BlockStorage = "block-storage";
}

/// <summary>A pool: the first component of a dataset name, backed by one engine chosen when it was created.</summary>
/// <param name="Name">Pool name (for ZFS, the zpool's name).</param>
/// <param name="Engine">Engine kind: <c>embedded</c>, <c>zfs</c>.</param>
/// <param name="Created">When it was created or adopted.</param>
/// <param name="Attributes">Engine options, if any.</param>
public sealed record PoolRecord(string Name, string Engine, DateTimeOffset Created, JsonObject? Attributes = null);

/// <summary>A LUN of a target: a volume (read-write, or read-only when asked), or a snapshot (always read-only).</summary>
/// <param name="Lun">LUN number.</param>
/// <param name="Dataset">Volume name.</param>
/// <param name="Snapshot">Snapshot name (part after '@') when a snapshot is mapped; then the LUN is read-only.</param>
/// <param name="ReadOnly">A volume mapped read-only: the target refuses writes (DATA PROTECT, WRITE PROTECTED).</param>
public sealed record TargetLun(int Lun, string Dataset, string? Snapshot = null, bool ReadOnly = false)
{
    /// <summary>Whether initiators can write through this LUN: a volume not mapped read-only.</summary>
    public bool Writes => Snapshot is null && !ReadOnly;

    /// <summary>Whether the target refuses writes through this LUN.</summary>
    public bool IsReadOnly => !Writes;
}

/// <summary>CHAP credentials. The secret is kept sealed (encrypted) at rest and never printed or logged.</summary>
public sealed record ChapCredential(string User, string SealedSecret);

/// <summary>An iSCSI target.</summary>
public sealed record TargetRecord(
    string Iqn,
    IReadOnlyList<TargetLun> Luns,
    IReadOnlyList<string> Initiators,
    ChapCredential? Chap,
    ChapCredential? MutualChap,
    string? Portal,
    DateTimeOffset Created,
    JsonObject? Attributes = null);

/// <summary>Lifecycle of a job.</summary>
public enum JobState { Pending, Running, Succeeded, Failed, Cancelled }

/// <summary>Lifecycle of one step or item.</summary>
public enum ItemState { Pending, Running, Done, Failed, Skipped }

/// <summary>A named step of a job, persisted with its timings.</summary>
public sealed record JobStep(string Name, ItemState State, DateTimeOffset? Started, DateTimeOffset? Finished, string? Error = null);

/// <summary>
/// A durable job. <see cref="Phase"/> is the handler's own status word (e.g. the LUN API's
/// <c>start_creating_clones</c>); <see cref="Data"/> holds its counters and resume state.
/// <see cref="ConflictKeys"/> names the resources (e.g. dataset names, target IQNs) the job touches:
/// two jobs sharing a key never run at the same time, the later waits for the earlier.
/// </summary>
public sealed record JobRecord(
    Guid Id,
    string Type,
    JobState State,
    string? Phase,
    double Progress,
    DateTimeOffset Created,
    DateTimeOffset? Started,
    DateTimeOffset? Finished,
    string? Error,
    JsonNode? Request,
    JsonObject? Data,
    IReadOnlyList<JobStep> Steps,
    int Attempts,
    bool CancelRequested = false,
    IReadOnlyList<string>? ConflictKeys = null);

/// <summary>One item of a job (e.g. one clone of a batch), with its own result and timings.</summary>
public sealed record JobItem(Guid JobId, int Index, string Key, ItemState State, string? Error, DateTimeOffset? Started, DateTimeOffset? Finished, JsonObject? Data = null);

/// <summary>A job log line.</summary>
public sealed record JobLogEntry(Guid JobId, long Seq, DateTimeOffset Time, string Level, string Message);

/// <summary>
/// A record a module keeps for itself (the identity module's users, projects and tokens; the Block Storage API's
/// volume types, quotas, attachments and the like): a JSON body under (module, kind, key), so that a new module adds
/// record kinds without a schema change to the store. Only the owning module reads or writes its documents.
/// </summary>
/// <param name="Module">Owning module (<see cref="Modules"/> or the module's own constant).</param>
/// <param name="Kind">Record kind within the module ("user", "project", "token", "volume_type", …).</param>
/// <param name="Key">Unique key within (module, kind): an id, a name or a hash — whatever the module looks records up by.</param>
/// <param name="Project">The project the record belongs to, if any (lists can be filtered by it).</param>
/// <param name="Body">The record itself.</param>
/// <param name="Updated">When it was last written.</param>
public sealed record DocumentRecord(string Module, string Kind, string Key, string? Project, JsonObject Body, DateTimeOffset Updated);

