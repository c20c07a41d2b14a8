using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine;

/// <summary>
/// Rename, rollback and promote. Each changes only metadata (and, for a rollback, which layer is the volume's top):
/// every row it touches is queued for the same group commit as the op itself, so after a crash the pool is either as
/// before or as after. Layers are keyed by their owner's <see cref="Dataset.Key"/>, which never changes: a rename
/// rewrites names only, a promote rewrites owners only.
/// </summary>
public sealed partial class EmbeddedEngine
{
    /// <summary>What a rollback made (the volume) and removed (the later snapshots it destroyed).</summary>
    private sealed record RolledBack(Dataset Dataset, List<Guid> Removed);

    private Dataset DoRename(string name, string newName, bool parents)
    {
        Names.ValidateDataset(name);
        Names.ValidateDataset(newName);
        if (IsPool(name)) throw CairnException.Invalid($"{name} is a pool; a pool cannot be renamed");
        if (!_byName.TryGetValue(name, out var root)) throw CairnException.NotFound($"{name} does not exist");
        if (name == newName) throw CairnException.Invalid($"{name} already has that name");
        if (Cairn.Core.Pools.PoolRouter.PoolOf(name) != Cairn.Core.Pools.PoolRouter.PoolOf(newName))
            throw CairnException.Invalid($"cannot rename {name} to {newName}: a dataset stays in its pool");
        if (newName.StartsWith(name + "/", StringComparison.Ordinal))
            throw CairnException.Invalid($"cannot rename {name} to {newName}: a dataset cannot move inside itself");
        CheckFree(newName);
        var missing = CheckParents(newName, parents);

        // Everything is checked: from here on nothing fails.
        CreateFolders(missing);
        var moving = Subtree(name);
        moving.Add(root);
        foreach (var ds in moving)
        {
            _byName.Remove(ds.Name);
            RemoveChild(ds.Name);
        }
        foreach (var ds in moving)
        {
            ds.Name = newName + ds.Name[name.Length..];
            _byName.Add(ds.Name, ds);
            AddChild(ds.Name);
            Queue(PutDataset(ds));
        }
        return root;
    }

    private Snapshot DoRenameSnapshot(string dataset, string name, string newName)
    {
        var snap = FindSnapshot(dataset, name);
        Names.ValidateSnapshot(dataset + "@" + newName);
        if (name == newName) throw CairnException.Invalid($"snapshot {snap.FullName} already has that name");
        foreach (var s in snap.Dataset.Snapshots)
            if (s.Name == newName) throw CairnException.Exists($"snapshot {dataset}@{newName} already exists");
        snap.Name = newName;
        Queue(PutSnapshot(snap));
        return snap;
    }

    private RolledBack DoRollback(string dataset, string name, bool destroyLater, Work work)
    {
        var snap = FindSnapshot(dataset, name);
        var ds = snap.Dataset;
        var later = ds.Snapshots.Skip(ds.Snapshots.IndexOf(snap) + 1).ToList();
        if (later.Count > 0 && !destroyLater)
            throw CairnException.Conflict($"{snap.FullName} is not the most recent snapshot of {ds.Name}: later snapshots {NameList(later.Select(s => s.FullName))} (destroy them with the rollback, -r)");
        foreach (var s in later)
            if (s.Clones.Count > 0)
                throw CairnException.Conflict($"cannot roll back {ds.Name} to {snap.FullName}: later snapshot {s.FullName} has clones: {NameList(s.Clones.Select(c => c.Name))}");

        // The volume's own layers above the snapshot (its top, the later snapshots' layers, hidden ones between) go;
        // no clone reads through them (a later snapshot with clones was refused above).
        var doomed = new List<Layer>();
        for (var l = ds.Top!; l != snap.Layer; l = l.Parent!) doomed.Add(l);
        var top = NewLayer(snap.Layer, ds.Key);
        snap.Layer.OwnChild = top;
        ds.Top = top;
        foreach (var l in doomed)
        {
            ds.Layers.Remove(l);
            _layers.Remove(l.Id);
            Queue(new Change.DeleteLayer(l.Id));
        }
        ds.Layers.Add(top);
        var removed = new List<Guid>();
        foreach (var s in later)
        {
            s.Destroyed = true;
            ds.Snapshots.Remove(s);
            removed.Add(s.Id);
            Queue(new Change.DeleteSnapshot(s.Key));
        }
        Volatile.Write(ref ds.Size, snap.Size);
        var oldView = ds.View!;
        ds.View = new View(top, snap.Layer);
        Interlocked.Exchange(ref oldView.Retired, 1);
        Queue(PutLayer(top));
        Queue(PutDataset(ds));
        // Writes in flight on the old top end before the commit; the old layers' files go once it is durable (a crash
        // in between leaves orphans, reclaimed at the next open).
        work.BeforeCommit.Add(oldView.RetireAndDrain);
        work.AfterCommit.Add(() => { foreach (var l in doomed) l.DeleteFiles(); });
        return new RolledBack(ds, removed);
    }

    private Dataset DoPromote(string name)
    {
        var clone = FindVolume(name);
        var origin = clone.Origin ?? throw CairnException.Invalid($"cannot promote {name}: it is not a clone");
        var from = origin.Dataset;
        // What moves: the origin snapshot's layer and the origin volume's own layers below it, with their snapshots.
        var moved = new List<Layer>();
        for (var l = origin.Layer; l is not null && l.Owner == from.Key; l = l.Parent) moved.Add(l);
        var movedSet = moved.ToHashSet();
        var snaps = from.Snapshots.Where(s => movedSet.Contains(s.Layer)).ToList();
        var taken = snaps.Where(s => clone.Snapshots.Exists(c => c.Name == s.Name)).Select(s => s.Name).ToList();
        if (taken.Count > 0)
            throw CairnException.Conflict($"cannot promote {name}: snapshot names {NameList(taken)} exist on both {name} and {from.Name} (rename one first)");

        // The clone's first own layer sits on the origin snapshot's layer: it continues that layer's own chain now.
        Layer? first = clone.Top;
        while (first is not null && first.Parent != origin.Layer) first = first.Parent;
        foreach (var l in moved)
        {
            l.Owner = clone.Key;
            from.Layers.Remove(l);
            clone.Layers.Add(l);
            Queue(PutLayer(l));
        }
        origin.Layer.OwnChild = first;
        foreach (var s in snaps)
        {
            from.Snapshots.Remove(s);
            s.Dataset = clone;
        }
        clone.Snapshots.InsertRange(0, snaps); // older than every snapshot of the clone
        foreach (var s in snaps) Queue(PutSnapshot(s));

        // The clone takes over the origin's origin; the origin becomes a clone of the moved snapshot.
        origin.Clones.Remove(clone);
        clone.Origin = from.Origin;
        if (from.Origin is { } grand)
        {
            grand.Clones.Remove(from);
            grand.Clones.Add(clone);
        }
        from.Origin = origin;
        origin.Clones.Add(from);
        Queue(PutDataset(clone));
        Queue(PutDataset(from));
        return clone;
    }

    private static Change.PutSnapshot PutSnapshot(Snapshot s) =>
        new(s.Key, s.Id, s.Dataset.Key, s.Name, s.Layer.Id, s.Size, s.Created.ToUnixTimeMilliseconds());
}
