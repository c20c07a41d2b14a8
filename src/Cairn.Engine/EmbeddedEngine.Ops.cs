using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

public sealed partial class EmbeddedEngine
{
    /// <summary>Side effects of an op that run outside the engine lock: before the group commit and after it.</summary>
    private sealed class Work
    {
        public readonly List<Action> BeforeCommit = [];
        public readonly List<Action> AfterCommit = [];
    }

    /// <inheritdoc/>
    public IReadOnlyList<EngineOpResult> Apply(IReadOnlyList<EngineOp> ops)
    {
        var results = new EngineOpResult[ops.Count];
        var work = new Work();
        // A snapshot's figures (and those of a clone of it) need its layer frozen, which happens in Finish
        // (BeforeCommit): describing them under the lock before that spins forever in Layer.BuildIndex. So from the
        // first snapshot of a batch on, ops are described after Finish.
        List<(int Index, object? Made)>? later = null;
        long seq;
        lock (_lock)
        {
            ThrowIfDisposed();
            for (int i = 0; i < ops.Count; i++)
            {
                try
                {
                    var made = Execute(ops[i], work);
                    if (made is Snapshot or RolledBack || later is not null) (later ??= []).Add((i, made));
                    else results[i] = Describe(ops[i], made);
                }
                catch (CairnException e)
                {
                    results[i] = new EngineOpResult(ops[i], e);
                }
            }
            seq = _seq;
        }
        Finish(work, seq);
        if (later is not null)
            foreach (var (i, made) in later) results[i] = Describe(ops[i], made);
        return results;
    }

    private object? ApplyOne(EngineOp op)
    {
        var work = new Work();
        object? result;
        long seq;
        lock (_lock)
        {
            ThrowIfDisposed();
            result = Execute(op, work);
            seq = _seq;
        }
        Finish(work, seq);
        return result;
    }

    /// <summary>What an op made or removed, read under the lock right after it ran.</summary>
    private EngineOpResult Describe(EngineOp op, object? made) => made switch
    {
        Dataset d => new EngineOpResult(op, null, Dataset: InfoOf(d)),
        Snapshot s => new EngineOpResult(op, null, Snapshot: InfoOf(s)),
        List<Guid> removed => new EngineOpResult(op, null, Removed: removed),
        RolledBack r => new EngineOpResult(op, null, Dataset: InfoOf(r.Dataset), Removed: r.Removed),
        _ => new EngineOpResult(op, null),
    };

    private void Finish(Work work, long seq)
    {
        foreach (var a in work.BeforeCommit) a();
        WaitDurable(seq);
        foreach (var a in work.AfterCommit) a();
    }

    /// <inheritdoc/>
    public DatasetInfo CreateVolume(string name, long size, bool parents = false) =>
        InfoOf((Dataset)ApplyOne(new EngineOp.CreateVolume(name, size, parents))!);

    /// <inheritdoc/>
    public DatasetInfo CreateFolder(string name, bool parents = false) =>
        InfoOf((Dataset)ApplyOne(new EngineOp.CreateFolder(name, parents))!);

    /// <inheritdoc/>
    public SnapshotInfo CreateSnapshot(string dataset, string snapshot) =>
        InfoOf((Snapshot)ApplyOne(new EngineOp.CreateSnapshot(dataset, snapshot))!);

    /// <inheritdoc/>
    public DatasetInfo Clone(string source, string snapshot, string target, bool parents = false) =>
        InfoOf((Dataset)ApplyOne(new EngineOp.CloneSnapshot(source, snapshot, target, parents))!);

    /// <inheritdoc/>
    public void Destroy(string name, bool recursive = false) => ApplyOne(new EngineOp.Destroy(name, recursive));

    /// <inheritdoc/>
    public void DestroySnapshot(string dataset, string snapshot) => ApplyOne(new EngineOp.DestroySnapshot(dataset, snapshot));

    /// <inheritdoc/>
    public DatasetInfo Resize(string name, long newSize) => InfoOf((Dataset)ApplyOne(new EngineOp.Resize(name, newSize))!);

    /// <summary>Runs one op under the lock: validates everything first, so a refused op changes nothing.</summary>
    private object? Execute(EngineOp op, Work work)
    {
        object? result = op switch
        {
            EngineOp.CreateVolume o => DoCreate(o.Name, DatasetKind.Volume, o.Size, o.Parents),
            EngineOp.CreateFolder o => DoCreate(o.Name, DatasetKind.Folder, 0, o.Parents),
            EngineOp.CreateSnapshot o => DoSnapshot(o.Dataset, o.Name, work),
            EngineOp.CloneSnapshot o => DoClone(o.Source, o.Snapshot, o.Target, o.Parents),
            EngineOp.Destroy o => DoDestroy(o.Name, o.Recursive, work),
            EngineOp.DestroySnapshot o => DoDestroySnapshot(o.Dataset, o.Name, work),
            EngineOp.Resize o => DoResize(o.Name, o.Size),
            EngineOp.Rename o => DoRename(o.Name, o.NewName, o.Parents),
            EngineOp.RenameSnapshot o => DoRenameSnapshot(o.Dataset, o.Name, o.NewName),
            EngineOp.Rollback o => DoRollback(o.Dataset, o.Snapshot, o.DestroyLater, work),
            EngineOp.Promote o => DoPromote(o.Name),
            null => throw CairnException.Invalid("operation is null"),
            _ => throw new CairnException(ErrorKind.NotSupported, $"operation {op.GetType().Name} is not supported"),
        };
        _seq++;
        return result;
    }

    private static bool IsPool(string name) => name.IndexOf('/') < 0;

    /// <summary>Checks the ancestors of <paramref name="name"/>; returns the folders to create (outermost first).</summary>
    private List<string> CheckParents(string name, bool parents)
    {
        var missing = new List<string>();
        for (var p = Names.Parent(name); p is not null && !IsPool(p); p = Names.Parent(p))
        {
            if (_byName.TryGetValue(p, out var existing))
            {
                if (existing.Kind != DatasetKind.Folder) throw CairnException.Invalid($"{p} is a volume; a volume cannot have children");
                break;
            }
            if (!parents) throw CairnException.NotFound($"parent {p} does not exist (create it first, or use parents)");
            missing.Add(p);
        }
        missing.Reverse();
        return missing;
    }

    private void CheckFree(string name)
    {
        if (IsPool(name)) throw CairnException.Exists($"{name} already exists (it is a pool)");
        if (_byName.ContainsKey(name)) throw CairnException.Exists($"{name} already exists");
    }

    private Dataset AddDataset(string name, DatasetKind kind, long size)
    {
        var ds = new Dataset(_nextDatasetKey++, Guid.NewGuid(), name, kind, size, DateTimeOffset.UtcNow);
        _byName.Add(name, ds);
        AddChild(name);
        return ds;
    }

    private void CreateFolders(List<string> names)
    {
        foreach (var f in names) Queue(PutDataset(AddDataset(f, DatasetKind.Folder, 0)));
    }

    private Dataset DoCreate(string name, DatasetKind kind, long size, bool parents)
    {
        Names.ValidateDataset(name);
        if (kind == DatasetKind.Volume) Sizes.ValidateVolumeSize(size);
        CheckFree(name);
        var missing = CheckParents(name, parents);
        CreateFolders(missing);
        var ds = AddDataset(name, kind, size);
        if (kind == DatasetKind.Volume)
        {
            ds.Top = NewLayer(null, ds.Key);
            ds.Layers.Add(ds.Top);
            ds.View = new View(ds.Top, null);
            Queue(PutLayer(ds.Top));
        }
        Queue(PutDataset(ds));
        return ds;
    }

    private Dataset FindVolume(string name)
    {
        Names.ValidateDataset(name);
        if (!_byName.TryGetValue(name, out var ds))
            throw CairnException.NotFound(IsPool(name) ? $"{name} is a pool, not a volume" : $"volume {name} does not exist");
        if (ds.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        return ds;
    }

    private Snapshot FindSnapshot(string dataset, string snapshot)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        if (!_byName.TryGetValue(dataset, out var ds) || ds.Kind != DatasetKind.Volume)
            throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist (no volume {dataset})");
        foreach (var s in ds.Snapshots)
            if (s.Name == snapshot) return s;
        throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist");
    }

    private Snapshot DoSnapshot(string dataset, string name, Work work)
    {
        Names.ValidateSnapshot(dataset + "@" + name);
        var ds = FindVolume(dataset);
        foreach (var s in ds.Snapshots)
            if (s.Name == name) throw CairnException.Exists($"snapshot {dataset}@{name} already exists");

        // Freeze the top: it becomes the snapshot; the volume continues on a new empty layer over it. O(1).
        var frozen = ds.Top!;
        var top = NewLayer(frozen, ds.Key);
        frozen.OwnChild = top;
        frozen.Sealed = false;
        frozen.Frozen = false;
        ds.Top = top;
        ds.Layers.Add(top);
        var oldView = ds.View!;
        ds.View = new View(top, frozen);
        Interlocked.Exchange(ref oldView.Retired, 1);
        var snap = new Snapshot(_nextSnapshotKey++, Guid.NewGuid(), ds, name, frozen, ds.Size, DateTimeOffset.UtcNow);
        ds.Snapshots.Add(snap);
        Queue(PutLayer(top));
        Queue(PutDataset(ds));
        Queue(new Change.PutSnapshot(snap.Key, snap.Id, ds.Key, name, frozen.Id, snap.Size, snap.Created.ToUnixTimeMilliseconds()));
        work.BeforeCommit.Add(() =>
        {
            // Writes in flight on the old top finish before it is frozen, then everything written to it is made
            // durable: the snapshot holds every write acknowledged before it.
            oldView.RetireAndDrain();
            frozen.Frozen = true;
            frozen.Flush();
            frozen.Sealed = true;
        });
        return snap;
    }

    private Dataset DoClone(string source, string snapshot, string target, bool parents)
    {
        Names.ValidateDataset(target);
        var snap = FindSnapshot(source, snapshot);
        CheckFree(target);
        var missing = CheckParents(target, parents);
        CreateFolders(missing);
        // O(1): a new empty layer over the snapshot's frozen stack; no file until the first write, no map copied.
        var ds = AddDataset(target, DatasetKind.Volume, snap.Size);
        ds.Origin = snap;
        ds.Top = NewLayer(snap.Layer, ds.Key);
        ds.Layers.Add(ds.Top);
        ds.View = new View(ds.Top, snap.Layer);
        snap.Clones.Add(ds);
        Queue(PutLayer(ds.Top));
        Queue(PutDataset(ds));
        return ds;
    }

    private Dataset DoResize(string name, long size)
    {
        var ds = FindVolume(name);
        Sizes.ValidateVolumeSize(size);
        if (size < ds.Size)
            throw CairnException.Invalid($"cannot shrink volume {name} from {Sizes.Format(ds.Size)} to {Sizes.Format(size)}; volumes only grow");
        if (size == ds.Size) return ds;
        Volatile.Write(ref ds.Size, size);
        Queue(PutDataset(ds));
        return ds;
    }

    private static string NameList(IEnumerable<string> names) => string.Join(", ", names.Order(StringComparer.Ordinal));

    private List<Dataset> Subtree(string name)
    {
        var list = new List<Dataset>();
        // A dataset without children (every clone a LUN job destroys) needs no scan: the cost of destroying it must
        // not grow with the number of datasets in the pool.
        if (!_childCount.ContainsKey(name)) return list;
        var prefix = name + "/";
        foreach (var (n, ds) in _byName)
            if (n.StartsWith(prefix, StringComparison.Ordinal)) list.Add(ds);
        return list;
    }

    private List<Guid>? DoDestroy(string name, bool recursive, Work work)
    {
        Names.ValidateDataset(name);
        _byName.TryGetValue(name, out var root);
        if (root is null && !IsPool(name)) throw CairnException.NotFound($"{name} does not exist");
        var doomed = Subtree(name);
        if (!recursive)
        {
            if (doomed.Count > 0)
            {
                var direct = doomed.Where(d => Names.Parent(d.Name) == name).Select(d => d.Name);
                throw CairnException.Conflict($"{name} has children: {NameList(direct)} (use recursive to destroy them)");
            }
            if (root is { Kind: DatasetKind.Volume } && root.Snapshots.Count > 0)
                throw CairnException.Conflict($"volume {name} has snapshots: {NameList(root.Snapshots.Select(s => s.FullName))} (use recursive to destroy them)");
        }
        if (root is not null) doomed.Add(root);
        var doomedSet = doomed.ToHashSet();
        foreach (var ds in doomed)
            foreach (var s in ds.Snapshots)
            {
                var outside = s.Clones.Where(c => !doomedSet.Contains(c)).Select(c => c.Name).ToList();
                if (outside.Count > 0) throw CairnException.Conflict($"snapshot {s.FullName} has clones: {NameList(outside)}");
            }

        var views = new List<View>();
        var layers = new List<Layer>();
        foreach (var ds in doomed)
        {
            ds.Destroyed = true;
            _byName.Remove(ds.Name);
            RemoveChild(ds.Name);
            if (ds.Origin is { } origin) origin.Clones.Remove(ds);
            foreach (var s in ds.Snapshots)
            {
                s.Destroyed = true;
                Queue(new Change.DeleteSnapshot(s.Key));
            }
            if (ds.View is { } v)
            {
                Interlocked.Exchange(ref v.Retired, 1);
                views.Add(v);
            }
            foreach (var l in ds.Layers)
            {
                _layers.Remove(l.Id);
                layers.Add(l);
                Queue(new Change.DeleteLayer(l.Id));
            }
            Queue(new Change.DeleteDataset(ds.Key));
        }
        work.BeforeCommit.Add(() => { foreach (var v in views) v.RetireAndDrain(); });
        // Files go only once the destruction is durable; a crash in between leaves orphans reclaimed at next open.
        work.AfterCommit.Add(() => { foreach (var l in layers) l.DeleteFiles(); });
        var removed = new List<Guid>();
        foreach (var ds in doomed)
        {
            removed.Add(ds.Id);
            foreach (var s in ds.Snapshots) removed.Add(s.Id);
        }
        return removed;
    }

    private List<Guid>? DoDestroySnapshot(string dataset, string name, Work work)
    {
        var snap = FindSnapshot(dataset, name);
        if (snap.Clones.Count > 0)
            throw CairnException.Conflict($"snapshot {snap.FullName} has clones: {NameList(snap.Clones.Select(c => c.Name))}");
        var ds = snap.Dataset;
        var layer = snap.Layer;
        snap.Destroyed = true;
        ds.Snapshots.Remove(snap);
        // The layer stays in the chain (the layers above read through it) but is hidden; the blocks the layers above
        // shadow are unreachable and are freed once the shadowing maps are durable.
        layer.Hidden = true;
        Queue(new Change.DeleteSnapshot(snap.Key));
        Queue(PutLayer(layer));
        var above = new List<Layer>();
        for (var c = layer.OwnChild; c is not null; c = c.OwnChild)
        {
            above.Add(c);
            if (!c.Hidden) break;
        }
        Dictionary<long, ulong[]>? shadow = null;
        work.BeforeCommit.Add(() =>
        {
            shadow = ShadowOf(above);
            foreach (var l in above) l.Flush();
        });
        work.AfterCommit.Add(() =>
        {
            for (var l = layer; l is not null && l.Hidden && l.Owner == ds.Key; l = l.Parent)
                FreeShadowed(l, shadow!);
        });
        return new List<Guid> { snap.Id };
    }
}
