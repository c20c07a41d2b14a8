namespace Cairn.Core.Storage;

/// <summary>What a dataset is.</summary>
public enum DatasetKind
{
    /// <summary>A container of other datasets (a ZFS filesystem used only as a namespace).</summary>
    Folder,
    /// <summary>A block volume.</summary>
    Volume,
}

/// <summary>What an engine can do beyond volumes, snapshots and clones.</summary>
[Flags]
public enum EngineCapabilities
{
    /// <summary>Nothing beyond the basics.</summary>
    None = 0,
    /// <summary>Folders (datasets that only hold other datasets).</summary>
    Folders = 1,
    /// <summary>User properties on create and clone (ZFS <c>-o key=value</c>).</summary>
    Properties = 2,
    /// <summary>Volumes are reachable as a file or block device path (<see cref="IVolumeEngine.GetBackingPathAsync"/>), so an external target (tgt) can export them.</summary>
    BackingPaths = 4,
    /// <summary>A batch commits all or nothing (embedded engine: one metadata transaction).</summary>
    AtomicBatches = 8,
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
/// <param name="Properties">User properties set through Cairn (null: none, or the engine has no properties).</param>
/// <param name="Managed">False for a dataset Cairn did not create (found in an adopted ZFS pool): Cairn never destroys it.</param>
public sealed record DatasetInfo(string Name, Guid Id, DatasetKind Kind, long Size, string? Origin, long Used, long Referenced, DateTimeOffset Created,
    IReadOnlyDictionary<string, string>? Properties = null, bool Managed = true);

/// <summary>A snapshot as the engine sees it.</summary>
/// <param name="Dataset">The volume it belongs to.</param>
/// <param name="Name">The part after '@'.</param>
/// <param name="Id">Engine-unique id.</param>
/// <param name="Size">Volume size when the snapshot was taken.</param>
/// <param name="Used">Bytes freed if this snapshot were destroyed.</param>
/// <param name="Referenced">Bytes readable through this snapshot that are stored.</param>
/// <param name="Clones">Full names of volumes cloned from it.</param>
/// <param name="Created">Creation time.</param>
/// <param name="Managed">False for a snapshot Cairn did not create.</param>
public sealed record SnapshotInfo(string Dataset, string Name, Guid Id, long Size, long Used, long Referenced, IReadOnlyList<string> Clones, DateTimeOffset Created, bool Managed = true)
{
    /// <summary><c>dataset@name</c>.</summary>
    public string FullName => Dataset + "@" + Name;
}

/// <summary>Space figures of one pool.</summary>
/// <param name="Size">Capacity of the pool (or of the filesystem holding it).</param>
/// <param name="Allocated">Bytes the pool's data occupies.</param>
/// <param name="Free">Bytes still available.</param>
/// <param name="Datasets">Number of volumes and folders in the pool, the pool's own root not counted.</param>
/// <param name="Snapshots">Number of snapshots in the pool.</param>
/// <param name="Volumes">Volumes in the pool: the volume rows of a listing of the pool (<c>volume list POOL</c>).</param>
/// <param name="Folders">The folder rows of the same listing: the pool's own root folder counted when it exists as a dataset.</param>
public sealed record PoolInfo(long Size, long Allocated, long Free, long Datasets, long Snapshots, long Volumes, long Folders);

/// <summary>One operation of a batch.</summary>
public abstract record EngineOp
{
    /// <summary>Create a volume.</summary>
    public sealed record CreateVolume(string Name, long Size, bool Parents = false, IReadOnlyDictionary<string, string>? Properties = null) : EngineOp;
    /// <summary>Create a folder.</summary>
    public sealed record CreateFolder(string Name, bool Parents = false) : EngineOp;
    /// <summary>Take a snapshot <c>Dataset@Snapshot</c>.</summary>
    public sealed record CreateSnapshot(string Dataset, string Name) : EngineOp;
    /// <summary>Clone <c>Source@Snapshot</c> into a new volume.</summary>
    public sealed record CloneSnapshot(string Source, string Snapshot, string Target, bool Parents = false, IReadOnlyDictionary<string, string>? Properties = null) : EngineOp;
    /// <summary>Destroy a volume or folder (refused with dependents unless Recursive destroys its own snapshots and children).</summary>
    public sealed record Destroy(string Name, bool Recursive = false) : EngineOp;
    /// <summary>Destroy a snapshot (refused while it has clones).</summary>
    public sealed record DestroySnapshot(string Dataset, string Name) : EngineOp;
    /// <summary>Grow a volume.</summary>
    public sealed record Resize(string Name, long Size) : EngineOp;
    /// <summary>
    /// Rename a volume or folder within its pool (<c>zfs rename</c>): its id, data, snapshots (which follow it) and
    /// clones stay; a folder's children move with it. Refused when <paramref name="NewName"/> exists, is in another
    /// pool or inside the dataset itself; missing parent folders are created with <paramref name="Parents"/>.
    /// The result's <see cref="EngineOpResult.Dataset"/> is the dataset under its new name.
    /// </summary>
    public sealed record Rename(string Name, string NewName, bool Parents = false) : EngineOp;
    /// <summary>Rename a snapshot within its volume (<c>zfs rename pool/v@a pool/v@b</c>); id, data and clones stay. The result's <see cref="EngineOpResult.Snapshot"/> is the snapshot under its new name.</summary>
    public sealed record RenameSnapshot(string Dataset, string Name, string NewName) : EngineOp;
    /// <summary>
    /// Roll a volume back to its snapshot <c>Dataset@Snapshot</c> (<c>zfs rollback</c>): every write since is discarded
    /// and the volume takes the snapshot's size. Like ZFS, only to the most recent snapshot, unless
    /// <paramref name="DestroyLater"/> (<c>-r</c>) destroys the later ones; refused when a later snapshot has clones.
    /// The result's <see cref="EngineOpResult.Dataset"/> is the volume, <see cref="EngineOpResult.Removed"/> the ids of
    /// the snapshots destroyed.
    /// </summary>
    public sealed record Rollback(string Dataset, string Snapshot, bool DestroyLater = false) : EngineOp;
    /// <summary>
    /// Make a clone independent of its origin (<c>zfs promote</c>): the origin snapshot, and every older snapshot of
    /// the origin volume, move to the clone, which takes over the origin's own origin; the former origin volume becomes
    /// a clone of the moved snapshot, so it can be destroyed while the promoted clone lives on. Refused when a moved
    /// snapshot's name is taken on the clone. The result's <see cref="EngineOpResult.Dataset"/> is the promoted volume.
    /// </summary>
    public sealed record Promote(string Name) : EngineOp;
}

/// <summary>
/// The outcome of one op of a batch: null error means done. <see cref="Dataset"/> is what a create, clone or resize
/// made; <see cref="Snapshot"/> what a snapshot made; <see cref="Removed"/> the ids a destroy removed (datasets and
/// snapshots), so that callers never need a second look-up.
/// </summary>
public sealed record EngineOpResult(EngineOp Op, CairnException? Error, DatasetInfo? Dataset = null, SnapshotInfo? Snapshot = null, IReadOnlyList<Guid>? Removed = null);

/// <summary>
/// A volume engine: the embedded thin copy-on-write engine, ZFS, Ceph RBD… Names follow <see cref="Names"/>; the
/// first component is the pool. Every mutating call is durable when it returns. Errors are
/// <see cref="CairnException"/> with a clear reason that names dependents (e.g. "snapshot p/a@s has clones: p/b, p/c").
/// Control operations are asynchronous and cancellable (an engine may run a command or a network call); block I/O
/// goes through <see cref="IBlockDevice"/>, which keeps a synchronous fast path.
/// </summary>
public interface IVolumeEngine : IDisposable
{
    /// <summary>Short engine name: "embedded", "zfs", …</summary>
    string Kind { get; }

    /// <summary>What this engine can do beyond the basics.</summary>
    EngineCapabilities Capabilities { get; }

    /// <summary>
    /// Makes <paramref name="pool"/> usable: the embedded engine creates its root folder; ZFS checks that the zpool
    /// exists and is healthy. Idempotent. Returns its space figures.
    /// </summary>
    ValueTask<PoolInfo> AttachPoolAsync(string pool, CancellationToken ct = default);

    /// <summary>Pools this engine already holds (for adopting the implicit pools of an older data directory).</summary>
    ValueTask<IReadOnlyList<string>> ListPoolsAsync(CancellationToken ct = default);

    ValueTask<DatasetInfo> CreateVolumeAsync(string name, long size, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default);
    ValueTask<DatasetInfo> CreateFolderAsync(string name, bool parents = false, CancellationToken ct = default);
    ValueTask<SnapshotInfo> CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default);
    ValueTask<DatasetInfo> CloneAsync(string source, string snapshot, string target, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default);

    /// <summary>Destroys a volume or folder. Refused when it has snapshots (unless <paramref name="recursive"/>) or when any of its snapshots has clones (always).</summary>
    ValueTask DestroyAsync(string name, bool recursive = false, CancellationToken ct = default);
    ValueTask DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct = default);

    /// <summary>Grows a volume; shrinking is refused.</summary>
    ValueTask<DatasetInfo> ResizeAsync(string name, long newSize, CancellationToken ct = default);

    /// <summary>
    /// Runs a batch of operations, each independently (one failing does not stop the others), in order where they
    /// depend on each other, and as few commits as the engine allows (one for the embedded engine). Results are in the
    /// order of <paramref name="ops"/>.
    /// </summary>
    ValueTask<IReadOnlyList<EngineOpResult>> ApplyAsync(IReadOnlyList<EngineOp> ops, CancellationToken ct = default);

    ValueTask<DatasetInfo?> GetAsync(string name, CancellationToken ct = default);
    ValueTask<SnapshotInfo?> GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default);

    /// <summary>Datasets, optionally only those under (and including) <paramref name="root"/>.</summary>
    ValueTask<IReadOnlyList<DatasetInfo>> ListAsync(string? root = null, CancellationToken ct = default);
    ValueTask<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(string? dataset = null, CancellationToken ct = default);

    /// <summary>Opens a volume for read/write I/O.</summary>
    ValueTask<IBlockDevice> OpenAsync(string name, CancellationToken ct = default);

    /// <summary>Opens a snapshot read-only.</summary>
    ValueTask<IBlockDevice> OpenSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default);

    /// <summary>
    /// A file or block device path holding the volume's (or, with <paramref name="snapshot"/>, the snapshot's) bytes,
    /// for an external exporter; null when the engine has none (<see cref="EngineCapabilities.BackingPaths"/>).
    /// </summary>
    ValueTask<string?> GetBackingPathAsync(string dataset, string? snapshot = null, CancellationToken ct = default) => ValueTask.FromResult<string?>(null);

    /// <summary>Space figures of one pool.</summary>
    ValueTask<PoolInfo> GetPoolInfoAsync(string pool, CancellationToken ct = default);
}
