using System.Collections.Concurrent;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Zfs;

public sealed partial class ZfsEngine
{
    /// <summary>ZFS's default recordsize: a discard smaller than a record can only zero it, not free it.</summary>
    private const int RecordSize = 128 << 10;

    private readonly ConcurrentDictionary<string, Lazy<Task>> _mounting = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Lazy<Task<ZDataset>>> _makingViews = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public async ValueTask<IBlockDevice> OpenAsync(string name, CancellationToken ct = default)
    {
        var (d, path) = await VolumePath(name, ct);
        SizeCell cell;
        lock (_lock) cell = d.Live ??= new SizeCell(d.VolSize);
        if (!d.IsZvol) EnsureLength(path, Volatile.Read(ref cell.Value));
        return new FileBlockDevice(path, ZfsProps.IdOf(d.Guid), cell, readOnly: false, "volume " + name, RecordSize,
            () => Volatile.Write(ref d.LastWrite, Environment.TickCount64));
    }

    /// <inheritdoc/>
    public async ValueTask<IBlockDevice> OpenSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default)
    {
        var (s, path) = await SnapshotPath(dataset, snapshot, ct);
        return new FileBlockDevice(path, ZfsProps.IdOf(s.Guid), new SizeCell(s.VolSize), readOnly: true, $"snapshot {s.FullName}", RecordSize, null);
    }

    /// <inheritdoc/>
    /// <remarks>File mode: the image file (mounting a lazily mounted clone first); a snapshot's is in its hidden
    /// read-only view. Zvol mode: <c>/dev/zvol/NAME</c> and <c>/dev/zvol/NAME@SNAP</c>.</remarks>
    public async ValueTask<string?> GetBackingPathAsync(string dataset, string? snapshot = null, CancellationToken ct = default) =>
        snapshot is null ? (await VolumePath(dataset, ct)).Path : (await SnapshotPath(dataset, snapshot, ct)).Path;

    private async Task<(ZDataset Dataset, string Path)> VolumePath(string name, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        await PoolOf(name, ct);
        ZDataset d;
        lock (_lock)
        {
            d = FindVolumeLocked(name);
            if (!d.Complete) throw CairnException.NotFound($"volume {name} is still being created");
        }
        if (d.IsZvol) return (d, "/dev/zvol/" + name);
        await EnsureMounted(d, ct);
        lock (_lock) return (d, ImagePathOf(d));
    }

    private async Task<(ZSnapshot Snapshot, string Path)> SnapshotPath(string dataset, string snapshot, CancellationToken ct)
    {
        var full = dataset + "@" + snapshot;
        Names.ValidateSnapshot(full);
        await PoolOf(dataset, ct);
        ZSnapshot s;
        lock (_lock)
        {
            if (!_datasets.TryGetValue(dataset, out var d) || d.Hidden || !d.IsVolume)
                throw CairnException.NotFound($"snapshot {full} does not exist (no volume {dataset})");
            s = FindSnapshotLocked(full) is { Complete: true } found ? found : throw CairnException.NotFound($"snapshot {full} does not exist");
        }
        // zvols show snapshots as devices when snapdev=visible (OpenZFS); untested here.
        if (s.Dataset.IsZvol) return (s, "/dev/zvol/" + full);
        var view = await EnsureView(s, ct);
        await EnsureMounted(view, ct);
        lock (_lock) return (s, ImagePathOf(view));
    }

    /// <summary>A volume whose image file was cut short by a crash during a resize gets its length back.</summary>
    private static void EnsureLength(string path, long size)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        if (f.Length < size) f.SetLength(size);
    }

    /// <summary>
    /// Mounts a lazily mounted clone: zfs(8) inherit mountpoint drops the local <c>none</c>, and ZFS mounts the
    /// filesystem at its inherited path. Concurrent opens of one clone share one command.
    /// </summary>
    private async Task EnsureMounted(ZDataset d, CancellationToken ct)
    {
        lock (_lock) if (d.Mounted && d.Mountpoint is not null) return;
        var mounting = _mounting.GetOrAdd(d.Name, _ => new Lazy<Task>(() => Mount(d, ct)));
        try { await mounting.Value; }
        finally { _mounting.TryRemove(new KeyValuePair<string, Lazy<Task>>(d.Name, mounting)); }
    }

    private async Task Mount(ZDataset d, CancellationToken ct)
    {
        bool none;
        lock (_lock)
        {
            if (d.Mounted && d.Mountpoint is not null) return;
            none = d.MountNone;
        }
        if (none) await _cli.Mutate(["inherit", "mountpoint", d.Name], $"cannot mount {d.Name}", ct);
        await FetchAsync([d.Name], ct);
        lock (_lock) if (d.Mounted && d.Mountpoint is not null) return;
        await _cli.Mutate(["mount", d.Name], $"cannot mount {d.Name}", ct);
        await FetchAsync([d.Name], ct);
        lock (_lock)
            if (!d.Mounted || d.Mountpoint is null)
                throw new CairnException(ErrorKind.NotSupported, $"{d.Name} has no mountpoint (mountpoint={d.Mountpoint ?? "none/legacy"}); set one on the pool's root");
    }

    /// <summary>
    /// zfs-fuse has no <c>.zfs/snapshot</c> directory, so a snapshot is read through a hidden read-only clone of it,
    /// <c>POOL/.cairn-view-GUID</c>, made at the first open and destroyed with the snapshot (never listed, never counted).
    /// </summary>
    private async Task<ZDataset> EnsureView(ZSnapshot s, CancellationToken ct)
    {
        lock (_lock) if (_views.TryGetValue(s.FullName, out var v)) return v;
        var making = _makingViews.GetOrAdd(s.FullName, _ => new Lazy<Task<ZDataset>>(() => MakeView(s, ct)));
        try { return await making.Value; }
        finally { _makingViews.TryRemove(new KeyValuePair<string, Lazy<Task<ZDataset>>>(s.FullName, making)); }
    }

    private async Task<ZDataset> MakeView(ZSnapshot s, CancellationToken ct)
    {
        lock (_lock) if (_views.TryGetValue(s.FullName, out var existing)) return existing;
        var pool = s.Dataset.Name.Split('/')[0];
        var name = $"{pool}/{ZfsProps.HiddenPrefix}view-{s.Guid:x16}";
        await _cli.Mutate(["clone", "-o", "readonly=on", "-o", ZfsProps.Managed + "=" + ZfsProps.ViewMark(name),
            "-o", ZfsProps.ViewOf + "=" + s.FullName, s.FullName, name], $"cannot open snapshot {s.FullName}", ct);
        var v = new ZDataset(name) { Origin = s.FullName, Mark = ZfsProps.ViewMark(name) };
        lock (_lock) AddToIndex(v);
        await FetchAsync([name], ct);
        return v;
    }

    private async Task DestroyView(ZDataset view, CancellationToken ct)
    {
        await _cli.Mutate(["destroy", view.Name], $"cannot close the view {view.Name} of snapshot {view.Origin} (is the snapshot still open?)", ct, retryBusy: true);
        lock (_lock) RemoveFromIndex(view);
    }
}
