using System.Collections.Concurrent;
using System.Globalization;
using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Zfs;

public sealed partial class ZfsEngine
{
    // Folders that several ops of a batch need (1,000 clones into one new folder) are made once: the first op's command,
    // which the others await.
    private readonly ConcurrentDictionary<string, Lazy<Task>> _makingFolders = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public async ValueTask<DatasetInfo> CreateVolumeAsync(string name, long size, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default) =>
        (await ApplyOne(new EngineOp.CreateVolume(name, size, parents, properties), ct)).Dataset!;

    /// <inheritdoc/>
    public async ValueTask<DatasetInfo> CreateFolderAsync(string name, bool parents = false, CancellationToken ct = default) =>
        (await ApplyOne(new EngineOp.CreateFolder(name, parents), ct)).Dataset!;

    /// <inheritdoc/>
    public async ValueTask<SnapshotInfo> CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) =>
        (await ApplyOne(new EngineOp.CreateSnapshot(dataset, snapshot), ct)).Snapshot!;

    /// <inheritdoc/>
    public async ValueTask<DatasetInfo> CloneAsync(string source, string snapshot, string target, bool parents = false, IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default) =>
        (await ApplyOne(new EngineOp.CloneSnapshot(source, snapshot, target, parents, properties), ct)).Dataset!;

    /// <inheritdoc/>
    public async ValueTask DestroyAsync(string name, bool recursive = false, CancellationToken ct = default) =>
        await ApplyOne(new EngineOp.Destroy(name, recursive), ct);

    /// <inheritdoc/>
    public async ValueTask DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) =>
        await ApplyOne(new EngineOp.DestroySnapshot(dataset, snapshot), ct);

    /// <inheritdoc/>
    public async ValueTask<DatasetInfo> ResizeAsync(string name, long newSize, CancellationToken ct = default) =>
        (await ApplyOne(new EngineOp.Resize(name, newSize), ct)).Dataset!;

    private static void CheckNotHidden(string name)
    {
        foreach (var part in name.Split('/'))
            if (part.StartsWith(ZfsProps.HiddenPrefix, StringComparison.Ordinal))
                throw CairnException.Invalid($"invalid name '{name}': components starting with '{ZfsProps.HiddenPrefix}' are reserved for Cairn");
    }

    /// <summary>Refuses a name that exists, then makes sure its parent folders exist (creating them with <paramref name="parents"/>).</summary>
    private async Task PrepareTarget(string name, bool parents, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        CheckNotHidden(name);
        await PoolOf(name, ct);
        var missing = new List<string>();
        lock (_lock)
        {
            if (!name.Contains('/')) throw CairnException.Exists($"{name} already exists (it is a pool)");
            if (_datasets.ContainsKey(name)) throw CairnException.Exists($"{name} already exists");
            for (var p = Names.Parent(name); p is not null; p = Names.Parent(p))
            {
                if (_datasets.TryGetValue(p, out var existing))
                {
                    if (existing.IsVolume) throw CairnException.Invalid($"{p} is a volume; a volume cannot have children");
                    break;
                }
                if (!parents) throw CairnException.NotFound($"parent {p} does not exist (create it first, or use parents)");
                missing.Add(p);
            }
        }
        // zfs create -p would make the parents without Cairn's mark (its -o options apply to the last one only).
        for (int i = missing.Count - 1; i >= 0; i--)
        {
            var folder = missing[i];
            var making = _makingFolders.GetOrAdd(folder, f => new Lazy<Task>(() => MakeFolder(f, ct)));
            try { await making.Value; }
            catch (CairnException e) when (e.Kind == ErrorKind.AlreadyExists) { }
            finally { _makingFolders.TryRemove(new KeyValuePair<string, Lazy<Task>>(folder, making)); }
        }
    }

    private async Task MakeFolder(string name, CancellationToken ct)
    {
        lock (_lock) if (_datasets.ContainsKey(name)) return;
        await _cli.Mutate(["create", "-o", ZfsProps.Managed + "=" + ZfsProps.FolderMark(name), name], $"cannot create folder {name}", ct);
        var d = new ZDataset(name) { Mark = ZfsProps.FolderMark(name) };
        lock (_lock) AddToIndex(d);
        await FetchAsync([name], ct);
    }

    private async Task<Outcome> DoCreateFolder(string name, bool parents, Run run, CancellationToken ct)
    {
        await PrepareTarget(name, parents, ct);
        await MakeFolder(name, ct);
        return new Outcome(Dataset: name);
    }

    private async Task<Outcome> DoCreateVolume(string name, long size, bool parents, IReadOnlyDictionary<string, string>? properties, Run run, CancellationToken ct)
    {
        Sizes.ValidateVolumeSize(size);
        ZfsProps.Validate(properties);
        await PrepareTarget(name, parents, ct);
        var pool = await PoolOf(name, ct);
        var sizeText = size.ToString(CultureInfo.InvariantCulture);
        var args = new List<string> { "create" };
        if (pool.Mode == VolumeMode.Zvol) args.AddRange(["-s", "-V", sizeText]); // zfs(8) create -s -V: a sparse zvol
        else args.AddRange(["-o", ZfsProps.VolSize + "=" + sizeText,
            // zle stores runs of zeros as nothing: a discard that can only write zeros (FUSE has no hole punching)
            // still frees the space. It costs nothing on data that does not compress.
            "-o", "compression=zle"]);
        args.AddRange(["-o", ZfsProps.Managed + "=" + ZfsProps.VolumeMark(name)]);
        ZfsProps.AddOptions(args, properties);
        args.Add(name);
        await _cli.Mutate(args, $"cannot create volume {name}", ct);
        var d = new ZDataset(name) { Mark = ZfsProps.VolumeMark(name), VolSize = size, IsZvol = pool.Mode == VolumeMode.Zvol, Props = CopyProps(properties) };
        lock (_lock) AddToIndex(d);
        if (pool.Mode == VolumeMode.File)
        {
            await FetchAsync([name], ct);
            try
            {
                CreateImage(ImagePathOf(d), size);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CairnException)
            {
                // Without its image the dataset is no volume: take it away again rather than leave a half-made one.
                await _cli.Mutate(["destroy", name], $"cannot destroy half-made volume {name}", ct, retryBusy: true);
                lock (_lock) RemoveFromIndex(d);
                throw new CairnException(ErrorKind.Internal, $"cannot create the image file of volume {name}: {e.Message}", e);
            }
        }
        else run.Fetch(name);
        return new Outcome(Dataset: name);
    }

    private static Dictionary<string, string>? CopyProps(IReadOnlyDictionary<string, string>? p) =>
        p is { Count: > 0 } ? new Dictionary<string, string>(p, StringComparer.Ordinal) : null;

    /// <summary>The image file of a mounted file-mode volume.</summary>
    private static string ImagePathOf(ZDataset d)
    {
        if (!d.Mounted || d.Mountpoint is null)
            throw new CairnException(ErrorKind.Internal, $"volume {d.Name} is not mounted (mountpoint {d.Mountpoint ?? "none"})");
        return Path.Combine(d.Mountpoint, ImageFileName);
    }

    /// <summary>A sparse file of <paramref name="size"/> bytes, durable (file and directory entry) on return.</summary>
    private static void CreateImage(string path, long size)
    {
        using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            f.SetLength(size);
            f.Flush(flushToDisk: true);
        }
        Native.SyncDirectory(Path.GetDirectoryName(path)!);
    }

    private ZDataset FindVolumeLocked(string name)
    {
        if (!_datasets.TryGetValue(name, out var d) || d.Hidden)
            throw CairnException.NotFound(name.Contains('/') ? $"volume {name} does not exist" : $"{name} is a pool, not a volume");
        if (!d.IsVolume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        return d;
    }

    private async Task<Outcome> DoSnapshot(string dataset, string snapshot, Run run, CancellationToken ct)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        await PoolOf(dataset, ct);
        var full = dataset + "@" + snapshot;
        ZDataset d;
        lock (_lock)
        {
            d = FindVolumeLocked(dataset);
            if (d.Snapshots.Exists(s => s.Name == snapshot)) throw CairnException.Exists($"snapshot {full} already exists");
        }
        // zfs(8) snapshot -o: the properties are set in the same transaction as the snapshot. Each snapshot keeps the
        // size the volume had, as its own cairn:volsize (a later resize changes only the volume's).
        var size = d.Live?.Value ?? d.VolSize;
        await _cli.Mutate(["snapshot", "-o", ZfsProps.Managed + "=" + ZfsProps.SnapshotMark(full),
            "-o", ZfsProps.VolSize + "=" + size.ToString(CultureInfo.InvariantCulture), full], $"cannot create snapshot {full}", ct);
        lock (_lock) d.Snapshots.Add(new ZSnapshot(d, snapshot) { Mark = ZfsProps.SnapshotMark(full), VolSize = size });
        run.Fetch(full);
        run.Fetch(dataset);
        return new Outcome(Snapshot: full);
    }

    private async Task<Outcome> DoClone(string source, string snapshot, string target, bool parents, IReadOnlyDictionary<string, string>? properties, Run run, CancellationToken ct)
    {
        var full = source + "@" + snapshot;
        Names.ValidateSnapshot(full);
        Names.ValidateDataset(target);
        ZfsProps.Validate(properties);
        await PoolOf(source, ct);
        ZSnapshot snap;
        lock (_lock)
        {
            if (!_datasets.TryGetValue(source, out var src) || !src.IsVolume || src.Hidden)
                throw CairnException.NotFound($"snapshot {full} does not exist (no volume {source})");
            snap = src.Snapshots.Find(s => s.Name == snapshot) ?? throw CairnException.NotFound($"snapshot {full} does not exist");
        }
        if (source.Split('/')[0] != target.Split('/')[0])
            throw CairnException.Invalid($"cannot clone {full} into {target}: a clone must be in the same pool");
        await PrepareTarget(target, parents, ct);
        var pool = await PoolOf(target, ct);
        bool lazy = _options.LazyMountClones && pool.Mode == VolumeMode.File;
        var args = new List<string> { "clone", "-o", ZfsProps.Managed + "=" + ZfsProps.VolumeMark(target) };
        if (pool.Mode == VolumeMode.File)
            args.AddRange(["-o", ZfsProps.VolSize + "=" + snap.VolSize.ToString(CultureInfo.InvariantCulture), "-o", "compression=zle"]);
        // Not mounting is what makes a clone cheap here: zfs-fuse mounts a new filesystem in the command, and a
        // just-mounted dataset answers "busy" to a destroy for a while. It is mounted at its first open instead.
        if (lazy) args.AddRange(["-o", "mountpoint=none"]);
        ZfsProps.AddOptions(args, properties);
        args.Add(full);
        args.Add(target);
        await _cli.Mutate(args, $"cannot clone {full} into {target}", ct);
        var d = new ZDataset(target)
        {
            Mark = ZfsProps.VolumeMark(target), VolSize = snap.VolSize, Origin = full, IsZvol = pool.Mode == VolumeMode.Zvol,
            MountNone = lazy, Props = CopyProps(properties),
        };
        lock (_lock) AddToIndex(d);
        run.Fetch(target);
        return new Outcome(Dataset: target);
    }

    private static string NameList(IEnumerable<string> names) => string.Join(", ", names.Order(StringComparer.Ordinal));

    private async Task<Outcome> DoDestroy(string name, bool recursive, Run run, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        await PoolOf(name, ct);
        List<ZDataset> doomed;
        List<ZDataset> views = [];
        var removed = new List<Guid>();
        lock (_lock)
        {
            if (!_datasets.TryGetValue(name, out var root) || root.Hidden) throw CairnException.NotFound($"{name} does not exist");
            if (root.IsPoolRoot) throw new CairnException(ErrorKind.Forbidden, $"{name} is a zfs pool; Cairn never destroys a pool");
            if (!root.Managed) throw new CairnException(ErrorKind.Forbidden, $"{name} was not created by Cairn; Cairn does not destroy it");
            doomed = DatasetsOf(root).ToList();
            if (!recursive)
            {
                if (root.Children.Count > 0) throw CairnException.Conflict($"{name} has children: {NameList(root.Children)} (use recursive to destroy them)");
                if (root.Snapshots.Count > 0)
                    throw CairnException.Conflict($"volume {name} has snapshots: {NameList(root.Snapshots.Select(s => s.FullName))} (use recursive to destroy them)");
            }
            var foreign = doomed.Where(d => !d.Managed && !d.Hidden).Select(d => d.Name)
                .Concat(doomed.SelectMany(d => d.Snapshots).Where(s => !s.Managed).Select(s => s.FullName)).ToList();
            if (foreign.Count > 0)
                throw new CairnException(ErrorKind.Forbidden, $"{name} holds datasets or snapshots not created by Cairn: {NameList(foreign)}; Cairn does not destroy them");
            var doomedNames = doomed.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var d in doomed)
                foreach (var s in d.Snapshots)
                {
                    // zfs destroy -r refuses clones outside the tree too; -R would destroy them, which Cairn never does.
                    var outside = ClonesOf(s.FullName).Where(c => !doomedNames.Contains(c)).ToList();
                    if (outside.Count > 0) throw CairnException.Conflict($"snapshot {s.FullName} has clones: {NameList(outside)}");
                    if (_views.TryGetValue(s.FullName, out var v)) views.Add(v);
                }
            foreach (var d in doomed)
            {
                if (d.Complete) removed.Add(ZfsProps.IdOf(d.Guid));
                foreach (var s in d.Snapshots) if (s.Complete) removed.Add(ZfsProps.IdOf(s.Guid));
            }
        }
        foreach (var v in views) await DestroyView(v, ct);
        var args = recursive ? new List<string> { "destroy", "-r", name } : ["destroy", name];
        await _cli.Mutate(args, $"cannot destroy {name}", ct, retryBusy: true);
        lock (_lock)
            foreach (var d in doomed) RemoveFromIndex(d);
        if (Names.Parent(name) is { } parent) run.Fetch(parent);
        return new Outcome(Removed: removed);
    }

    private async Task<Outcome> DoDestroySnapshot(string dataset, string snapshot, Run run, CancellationToken ct)
    {
        var full = dataset + "@" + snapshot;
        Names.ValidateSnapshot(full);
        await PoolOf(dataset, ct);
        ZSnapshot s;
        ZDataset? view;
        lock (_lock)
        {
            s = FindSnapshotLocked(full) is { } found && !found.Dataset.Hidden ? found : throw CairnException.NotFound($"snapshot {full} does not exist");
            if (!s.Managed) throw new CairnException(ErrorKind.Forbidden, $"snapshot {full} was not created by Cairn; Cairn does not destroy it");
            var clones = ClonesOf(full);
            if (clones.Count > 0) throw CairnException.Conflict($"snapshot {full} has clones: {NameList(clones)}");
            _views.TryGetValue(full, out view);
        }
        if (view is not null) await DestroyView(view, ct);
        await _cli.Mutate(["destroy", full], $"cannot destroy snapshot {full}", ct, retryBusy: true);
        lock (_lock) s.Dataset.Snapshots.Remove(s);
        run.Fetch(dataset);
        return new Outcome(Removed: s.Complete ? [ZfsProps.IdOf(s.Guid)] : []);
    }

    private async Task<Outcome> DoResize(string name, long size, Run run, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        await PoolOf(name, ct);
        ZDataset d;
        lock (_lock)
        {
            d = FindVolumeLocked(name);
            if (!d.Managed) throw new CairnException(ErrorKind.Forbidden, $"{name} was not created by Cairn; Cairn does not resize it");
        }
        Sizes.ValidateVolumeSize(size);
        if (size < d.VolSize)
            throw CairnException.Invalid($"cannot shrink volume {name} from {Sizes.Format(d.VolSize)} to {Sizes.Format(size)}; volumes only grow");
        if (size == d.VolSize) return new Outcome(Dataset: name);
        var sizeText = size.ToString(CultureInfo.InvariantCulture);
        if (d.IsZvol)
            await _cli.Mutate(["set", "volsize=" + sizeText, name], $"cannot resize volume {name}", ct);
        else
        {
            // The file grows first: a crash before the property is set leaves a file longer than the size, which is harmless
            // (reads stop at the size, and the next resize or open sets the length again).
            await EnsureMounted(d, ct);
            // The fsync blocks: it runs on the blocking-I/O threads, not on a thread-pool thread.
            var image = ImagePathOf(d);
            await BlockingIo.Run(() =>
            {
                using var f = new FileStream(image, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
                if (f.Length < size) f.SetLength(size);
                f.Flush(flushToDisk: true);
            });
            await _cli.Mutate(["set", ZfsProps.VolSize + "=" + sizeText, name], $"cannot resize volume {name}", ct);
        }
        lock (_lock)
        {
            d.VolSize = size;
            if (d.Live is { } cell) Volatile.Write(ref cell.Value, size);
        }
        run.Fetch(name);
        return new Outcome(Dataset: name);
    }
}
