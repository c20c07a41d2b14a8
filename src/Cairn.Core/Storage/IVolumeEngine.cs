namespace Cairn.Core.Storage;

/// <summary>What a dataset is.</summary>
public enum DatasetKind
{
    /// <summary>A container of other datasets (a ZFS filesystem used only as a namespace).</summary>
    Folder,
    /// <summary>A block volume.</summary>
    Volume,
}

/// <summary>A volume or folder as the engine sees it.</summary>
/// <param name="Name">Full name, <c>pool/a/b</c>.</param>
/// <param name="Id">Engine-unique id, stable for the dataset's life.</param>
/// <param name="Kind">Folder or volume.</param>
/// <param name="Size">Volume size in bytes (0 for folders).</param>
/// <param name="Origin">For a clone: the snapshot it was cloned from (<c>pool/a@s</c>), else null.</param>
/// <param name="Used">Bytes this volume and its own snapshots hold that nothing else shares (ZFS <c>used</c>).</param>
/// <param name="Referenced">Bytes readable through this volume that are stored (ZFS <c>referenced</c>).</param>
/// <param name="Created">Creation time.</param>
public sealed record DatasetInfo(string Name, Guid Id, DatasetKind Kind, long Size, string? Origin, long Used, long Referenced, DateTimeOffset Created);

/// <summary>A snapshot as the engine sees it.</summary>
/// <param name="Dataset">The volume it belongs to.</param>
/// <param name="Name">The part after '@'.</param>
/// <param name="Id">Engine-unique id.</param>
/// <param name="Size">Volume size when the snapshot was taken.</param>
/// <param name="Used">Bytes freed if this snapshot were destroyed.</param>
/// <param name="Referenced">Bytes readable through this snapshot that are stored.</param>
/// <param name="Clones">Full names of volumes cloned from it.</param>
/// <param name="Created">Creation time.</param>
public sealed record SnapshotInfo(string Dataset, string Name, Guid Id, long Size, long Used, long Referenced, IReadOnlyList<string> Clones, DateTimeOffset Created)
{
    /// <summary><c>dataset@name</c>.</summary>
    public string FullName => Dataset + "@" + Name;
}

/// <summary>Pool-wide space figures.</summary>
/// <param name="Size">Capacity of the filesystem holding the pool.</param>
/// <param name="Allocated">Bytes the pool's data occupies.</param>
/// <param name="Free">Bytes still available.</param>
/// <param name="Datasets">Number of volumes and folders.</param>
/// <param name="Snapshots">Number of snapshots.</param>
public sealed record PoolInfo(long Size, long Allocated, long Free, long Datasets, long Snapshots);

/// <summary>One operation of a batch: all of a batch commits durably at once (one sync), in order.</summary>
public abstract record EngineOp
{
    /// <summary>Create a volume.</summary>
    public sealed record CreateVolume(string Name, long Size, bool Parents = false) : EngineOp;
    /// <summary>Create a folder.</summary>
    public sealed record CreateFolder(string Name, bool Parents = false) : EngineOp;
    /// <summary>Take a snapshot <c>Dataset@Snapshot</c>.</summary>
    public sealed record CreateSnapshot(string Dataset, string Name) : EngineOp;
    /// <summary>Clone <c>Source@Snapshot</c> into a new volume.</summary>
    public sealed record CloneSnapshot(string Source, string Snapshot, string Target, bool Parents = false) : EngineOp;
    /// <summary>Destroy a volume or folder (refused with dependents unless Recursive destroys its own snapshots and children).</summary>
    public sealed record Destroy(string Name, bool Recursive = false) : EngineOp;
    /// <summary>Destroy a snapshot (refused while it has clones).</summary>
    public sealed record DestroySnapshot(string Dataset, string Name) : EngineOp;
    /// <summary>Grow a volume.</summary>
    public sealed record Resize(string Name, long Size) : EngineOp;
}

/// <summary>The outcome of one op of a batch: null error means done.</summary>
public sealed record EngineOpResult(EngineOp Op, CairnException? Error);

/// <summary>
/// A volume engine: the embedded thin copy-on-write engine, ZFS, Ceph RBD… Names follow <see cref="Names"/>.
/// Every mutating call is durable when it returns. Errors are <see cref="CairnException"/> with a clear reason
/// that names dependents (e.g. "snapshot p/a@s has clones: p/b, p/c").
/// </summary>
public interface IVolumeEngine : IDisposable
{
    /// <summary>Short engine name: "embedded", "zfs", …</summary>
    string Kind { get; }

    DatasetInfo CreateVolume(string name, long size, bool parents = false);
    DatasetInfo CreateFolder(string name, bool parents = false);
    SnapshotInfo CreateSnapshot(string dataset, string snapshot);
    DatasetInfo Clone(string source, string snapshot, string target, bool parents = false);

    /// <summary>Destroys a volume or folder. Refused when it has snapshots (unless <paramref name="recursive"/>) or when any of its snapshots has clones (always).</summary>
    void Destroy(string name, bool recursive = false);
    void DestroySnapshot(string dataset, string snapshot);

    /// <summary>Grows a volume; shrinking is refused.</summary>
    DatasetInfo Resize(string name, long newSize);

    /// <summary>
    /// Runs a batch of operations, each independently (one failing does not stop the others), and makes all the
    /// successful ones durable with one commit. Results are in the order of <paramref name="ops"/>.
    /// </summary>
    IReadOnlyList<EngineOpResult> Apply(IReadOnlyList<EngineOp> ops);

    DatasetInfo? Get(string name);
    SnapshotInfo? GetSnapshot(string dataset, string snapshot);

    /// <summary>Datasets, optionally only those under (and including) <paramref name="root"/>.</summary>
    IReadOnlyList<DatasetInfo> List(string? root = null);
    IReadOnlyList<SnapshotInfo> ListSnapshots(string? dataset = null);

    /// <summary>Opens a volume for read/write I/O.</summary>
    IBlockDevice Open(string name);

    /// <summary>Opens a snapshot read-only.</summary>
    IBlockDevice OpenSnapshot(string dataset, string snapshot);

    PoolInfo GetPoolInfo();
}
