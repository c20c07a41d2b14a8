using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>
/// The asynchronous engine interface over the embedded engine's synchronous methods. Reads are in-memory and complete
/// synchronously (a thread hop would cost more than the work). Changes end in a group commit whose fsync blocks, so
/// they run on <see cref="BlockingIo"/>'s threads, never on the thread pool that serves requests.
/// </summary>
public sealed partial class EmbeddedEngine
{
    /// <inheritdoc/>
    public EngineCapabilities Capabilities => EngineCapabilities.Folders | EngineCapabilities.AtomicBatches;

    ValueTask<PoolInfo> IVolumeEngine.AttachPoolAsync(string pool, CancellationToken ct) => new(GetPoolInfo(pool));

    ValueTask<IReadOnlyList<string>> IVolumeEngine.ListPoolsAsync(CancellationToken ct) => new(ListPools());

    // Properties need an engine that stores them; the embedded engine has none (see Capabilities), so they are ignored.
    ValueTask<DatasetInfo> IVolumeEngine.CreateVolumeAsync(string name, long size, bool parents, IReadOnlyDictionary<string, string>? properties, CancellationToken ct) =>
        new(BlockingIo.Run(() => CreateVolume(name, size, parents)));

    ValueTask<DatasetInfo> IVolumeEngine.CreateFolderAsync(string name, bool parents, CancellationToken ct) => new(BlockingIo.Run(() => CreateFolder(name, parents)));

    ValueTask<SnapshotInfo> IVolumeEngine.CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(BlockingIo.Run(() => CreateSnapshot(dataset, snapshot)));

    ValueTask<DatasetInfo> IVolumeEngine.CloneAsync(string source, string snapshot, string target, bool parents, IReadOnlyDictionary<string, string>? properties, CancellationToken ct) =>
        new(BlockingIo.Run(() => Clone(source, snapshot, target, parents)));

    ValueTask IVolumeEngine.DestroyAsync(string name, bool recursive, CancellationToken ct) => new(BlockingIo.Run(() => Destroy(name, recursive)));

    ValueTask IVolumeEngine.DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(BlockingIo.Run(() => DestroySnapshot(dataset, snapshot)));

    ValueTask<DatasetInfo> IVolumeEngine.ResizeAsync(string name, long newSize, CancellationToken ct) => new(BlockingIo.Run(() => Resize(name, newSize)));

    ValueTask<IReadOnlyList<EngineOpResult>> IVolumeEngine.ApplyAsync(IReadOnlyList<EngineOp> ops, CancellationToken ct) => new(BlockingIo.Run(() => Apply(ops)));

    ValueTask<DatasetInfo?> IVolumeEngine.GetAsync(string name, CancellationToken ct) => new(Get(name));

    ValueTask<SnapshotInfo?> IVolumeEngine.GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(GetSnapshot(dataset, snapshot));

    ValueTask<IReadOnlyList<DatasetInfo>> IVolumeEngine.ListAsync(string? root, CancellationToken ct) => new(List(root));

    ValueTask<IReadOnlyList<SnapshotInfo>> IVolumeEngine.ListSnapshotsAsync(string? dataset, CancellationToken ct) => new(ListSnapshots(dataset));

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The device is handed to the caller, who owns it.")]
    ValueTask<IBlockDevice> IVolumeEngine.OpenAsync(string name, CancellationToken ct) => new(Open(name));

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The device is handed to the caller, who owns it.")]
    ValueTask<IBlockDevice> IVolumeEngine.OpenSnapshotAsync(string dataset, string snapshot, CancellationToken ct) => new(OpenSnapshot(dataset, snapshot));

    ValueTask<PoolInfo> IVolumeEngine.GetPoolInfoAsync(string pool, CancellationToken ct) => new(GetPoolInfo(pool));
}
