using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>
/// The asynchronous engine interface over the embedded engine's synchronous methods. Control operations here are
/// in-memory work plus one group commit, so they complete synchronously: a thread hop would cost more than the work.
/// The group commit's fsync is the one blocking part; callers that must not block a request thread on it run
/// batches from jobs (see <c>JobEngine</c>).
/// </summary>
public sealed partial class EmbeddedEngine
{
    /// <inheritdoc/>
    public EngineCapabilities Capabilities => EngineCapabilities.Folders | EngineCapabilities.AtomicBatches;

    ValueTask<PoolInfo> IVolumeEngine.AttachPoolAsync(string pool, CancellationToken ct) => new(GetPoolInfo(pool));

    ValueTask<IReadOnlyList<string>> IVolumeEngine.ListPoolsAsync(CancellationToken ct) => new(ListPools());

    // Properties need an engine that stores them; the embedded engine has none (see Capabilities), so they are ignored.
    ValueTask<DatasetInfo> IVolumeEngine.CreateVolumeAsync(string name, long size, bool parents, IReadOnlyDictionary<string, string>? properties, CancellationToken ct) =>
        new(CreateVolume(name, size, parents));

    ValueTask<DatasetInfo> IVolumeEngine.CreateFolderAsync(string name, bool parents, CancellationToken ct) => new(CreateFolder(name, parents));

    ValueTask<SnapshotInfo> IVolumeEngine.CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(CreateSnapshot(dataset, snapshot));

    ValueTask<DatasetInfo> IVolumeEngine.CloneAsync(string source, string snapshot, string target, bool parents, IReadOnlyDictionary<string, string>? properties, CancellationToken ct) =>
        new(Clone(source, snapshot, target, parents));

    ValueTask IVolumeEngine.DestroyAsync(string name, bool recursive, CancellationToken ct)
    {
        Destroy(name, recursive);
        return default;
    }

    ValueTask IVolumeEngine.DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct)
    {
        DestroySnapshot(dataset, snapshot);
        return default;
    }

    ValueTask<DatasetInfo> IVolumeEngine.ResizeAsync(string name, long newSize, CancellationToken ct) => new(Resize(name, newSize));

    ValueTask<IReadOnlyList<EngineOpResult>> IVolumeEngine.ApplyAsync(IReadOnlyList<EngineOp> ops, CancellationToken ct) => new(Apply(ops));

    ValueTask<DatasetInfo?> IVolumeEngine.GetAsync(string name, CancellationToken ct) => new(Get(name));

    ValueTask<SnapshotInfo?> IVolumeEngine.GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(GetSnapshot(dataset, snapshot));

    ValueTask<IReadOnlyList<DatasetInfo>> IVolumeEngine.ListAsync(string? root, CancellationToken ct) => new(List(root));

    ValueTask<IReadOnlyList<SnapshotInfo>> IVolumeEngine.ListSnapshotsAsync(string? dataset, CancellationToken ct) => new(ListSnapshots(dataset));

    ValueTask<IBlockDevice> IVolumeEngine.OpenAsync(string name, CancellationToken ct) => new(Open(name));

    ValueTask<IBlockDevice> IVolumeEngine.OpenSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(OpenSnapshot(dataset, snapshot));

    ValueTask<PoolInfo> IVolumeEngine.GetPoolInfoAsync(string pool, CancellationToken ct) => new(GetPoolInfo(pool));
}
