using System.Globalization;
using Cairn.Core;

namespace Cairn.Engine.Zfs;

/// <summary>
/// Rename, rollback and promote: one zfs(8) command each (<c>zfs rename</c>, <c>zfs rollback [-r]</c>,
/// <c>zfs promote</c>), atomic in ZFS itself. They move names, origins and snapshots across the inventory (clones,
/// snapshot views, children), so after the command the pool is read again whole, as after an unexpected failure; a
/// batch orders them after every earlier op of the same pool and before every later one (<see cref="Batch"/>).
/// Cairn's marks keep the name an object was created with (see <see cref="ZDataset.Managed"/>).
/// </summary>
public sealed partial class ZfsEngine
{
    private async Task<Outcome> DoRename(string name, string newName, bool parents, Run run, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        Names.ValidateDataset(newName);
        CheckNotHidden(newName);
        await PoolOf(name, ct);
        lock (_lock)
        {
            if (!_datasets.TryGetValue(name, out var root) || root.Hidden) throw CairnException.NotFound($"{name} does not exist");
            if (root.IsPoolRoot) throw CairnException.Invalid($"{name} is a zfs pool; Cairn does not rename a pool");
            if (name == newName) throw CairnException.Invalid($"{name} already has that name");
            if (name.Split('/')[0] != newName.Split('/')[0])
                throw CairnException.Invalid($"cannot rename {name} to {newName}: a dataset stays in its pool");
            if (newName.StartsWith(name + "/", StringComparison.Ordinal))
                throw CairnException.Invalid($"cannot rename {name} to {newName}: a dataset cannot move inside itself");
            var foreign = DatasetsOf(root).Where(d => !d.Managed && !d.Hidden).Select(d => d.Name).ToList();
            if (foreign.Count > 0)
                throw new CairnException(ErrorKind.Forbidden, $"{name} is or holds datasets not created by Cairn: {NameList(foreign)}; Cairn does not rename them");
        }
        List<string> mounted;
        var views = new List<ZDataset>();
        lock (_lock)
        {
            var tree = DatasetsOf(_datasets[name]).Where(d => !d.Hidden).ToList();
            mounted = tree.Where(d => d.Mounted).Select(d => d.Name).Order(StringComparer.Ordinal).ToList();
            foreach (var s in tree.SelectMany(d => d.Snapshots))
                if (_views.TryGetValue(s.FullName, out var v)) views.Add(v);
        }
        await PrepareTarget(newName, parents, ct);
        // A snapshot's hidden view is a mounted clone of it, which keeps zfs-fuse's rename busy: closed first, made
        // again at the snapshot's next open (as after a destroy).
        foreach (var v in views) await DestroyView(v, ct);
        // zfs rename unmounts and mounts the subtree itself, but on zfs-fuse its unmount answers "busy" for long after
        // the last write, where zfs unmount succeeds at once: the tree is unmounted first, deepest first, and mounted
        // again after (folders at once, volumes at their next open, as lazily mounted clones are).
        for (int i = mounted.Count - 1; i >= 0; i--)
            await _cli.Mutate(["unmount", mounted[i]], $"cannot rename {name}: cannot unmount {mounted[i]} (is it open?)", ct, retryBusy: true);
        Func<string, string> moved = n => n == name || n.StartsWith(name + "/", StringComparison.Ordinal) ? newName + n[name.Length..] : n;
        await _cli.Mutate(["rename", name, newName], $"cannot rename {name} to {newName}", ct, retryBusy: true);
        await RefreshNowAsync(name, moved, ct);
        foreach (var m in mounted)
        {
            ZDataset? d;
            lock (_lock) d = _datasets.GetValueOrDefault(moved(m));
            if (d is { IsVolume: false, Mounted: false, Mountpoint: not null }) await _cli.Mutate(["mount", d.Name], $"cannot mount {d.Name}", ct, retryBusy: true);
        }
        if (mounted.Count > 0) run.Fetch(newName);
        if (Names.Parent(newName) is { } parent) run.Fetch(parent);
        if (Names.Parent(name) is { } oldParent && oldParent != Names.Parent(newName)) run.Fetch(oldParent);
        return new Outcome(Dataset: newName);
    }

    private async Task<Outcome> DoRenameSnapshot(string dataset, string snapshot, string newSnapshot, Run run, CancellationToken ct)
    {
        var full = dataset + "@" + snapshot;
        var newFull = dataset + "@" + newSnapshot;
        Names.ValidateSnapshot(full);
        Names.ValidateSnapshot(newFull);
        await PoolOf(dataset, ct);
        lock (_lock)
        {
            var s = FindSnapshotLocked(full) is { } found && !found.Dataset.Hidden ? found : throw CairnException.NotFound($"snapshot {full} does not exist");
            if (!s.Managed) throw new CairnException(ErrorKind.Forbidden, $"snapshot {full} was not created by Cairn; Cairn does not rename it");
            if (snapshot == newSnapshot) throw CairnException.Invalid($"snapshot {full} already has that name");
            if (s.Dataset.Snapshots.Exists(x => x.Name == newSnapshot)) throw CairnException.Exists($"snapshot {newFull} already exists");
        }
        await _cli.Mutate(["rename", full, newFull], $"cannot rename snapshot {full} to {newFull}", ct);
        await RefreshNowAsync(dataset, null, ct);
        return new Outcome(Snapshot: newFull);
    }

    private async Task<Outcome> DoRollback(string dataset, string snapshot, bool destroyLater, Run run, CancellationToken ct)
    {
        var full = dataset + "@" + snapshot;
        Names.ValidateSnapshot(full);
        await PoolOf(dataset, ct);
        ZSnapshot s;
        List<ZSnapshot> later;
        var views = new List<ZDataset>();
        lock (_lock)
        {
            var d = FindVolumeLocked(dataset);
            if (!d.Managed) throw new CairnException(ErrorKind.Forbidden, $"{dataset} was not created by Cairn; Cairn does not roll it back");
            s = d.Snapshots.Find(x => x.Name == snapshot) ?? throw CairnException.NotFound($"snapshot {full} does not exist");
            // The inventory lists snapshots as zfs get -r prints them: in creation (txg) order.
            later = d.Snapshots.Skip(d.Snapshots.IndexOf(s) + 1).ToList();
            if (later.Count > 0 && !destroyLater)
                throw CairnException.Conflict($"{full} is not the most recent snapshot of {dataset}: later snapshots {NameList(later.Select(x => x.FullName))} (destroy them with the rollback, -r)");
            foreach (var x in later)
            {
                if (!x.Managed) throw new CairnException(ErrorKind.Forbidden, $"later snapshot {x.FullName} was not created by Cairn; Cairn does not destroy it");
                var clones = ClonesOf(x.FullName);
                // zfs rollback -R would destroy them; Cairn never does.
                if (clones.Count > 0) throw CairnException.Conflict($"cannot roll back {dataset} to {full}: later snapshot {x.FullName} has clones: {NameList(clones)}");
                if (_views.TryGetValue(x.FullName, out var v)) views.Add(v);
            }
        }
        foreach (var v in views) await DestroyView(v, ct);
        var args = destroyLater && later.Count > 0 ? new List<string> { "rollback", "-r", full } : ["rollback", full];
        await _cli.Mutate(args, $"cannot roll back {dataset} to {full}", ct, retryBusy: true);
        // ZFS rolls back the data (the image file's bytes and length) but not user properties: the volume takes the
        // snapshot's size back. A crash before this leaves cairn:volsize larger than the file, which an open extends.
        long size = s.VolSize;
        ZDataset vol;
        lock (_lock) vol = _datasets[dataset];
        if (!vol.IsZvol && size > 0 && size != vol.VolSize)
            await _cli.Mutate(["set", ZfsProps.VolSize + "=" + size.ToString(CultureInfo.InvariantCulture), dataset], $"cannot set the size of {dataset}", ct);
        await RefreshNowAsync(dataset, null, ct);
        lock (_lock)
            if (_datasets.TryGetValue(dataset, out var now) && now.Live is { } cell) Volatile.Write(ref cell.Value, now.VolSize);
        return new Outcome(Dataset: dataset, Removed: later.Where(x => x.Complete).Select(x => ZfsProps.IdOf(x.Guid)).ToList());
    }

    private async Task<Outcome> DoPromote(string name, Run run, CancellationToken ct)
    {
        Names.ValidateDataset(name);
        await PoolOf(name, ct);
        lock (_lock)
        {
            var d = FindVolumeLocked(name);
            if (!d.Managed) throw new CairnException(ErrorKind.Forbidden, $"{name} was not created by Cairn; Cairn does not promote it");
            if (d.Origin is not { } origin) throw CairnException.Invalid($"cannot promote {name}: it is not a clone");
            var snap = FindSnapshotLocked(origin) ?? throw CairnException.NotFound($"origin {origin} of {name} is not known; refresh and try again");
            var from = snap.Dataset;
            if (!from.Managed) throw new CairnException(ErrorKind.Forbidden, $"the origin {from.Name} of {name} was not created by Cairn; Cairn does not change it");
            var moving = from.Snapshots.Take(from.Snapshots.IndexOf(snap) + 1).ToList();
            var taken = moving.Where(m => d.Snapshots.Exists(x => x.Name == m.Name)).Select(m => m.Name).ToList();
            if (taken.Count > 0)
                throw CairnException.Conflict($"cannot promote {name}: snapshot names {NameList(taken)} exist on both {name} and {from.Name} (rename one first)");
            var foreign = moving.Where(m => !m.Managed).Select(m => m.FullName).ToList();
            if (foreign.Count > 0)
                throw new CairnException(ErrorKind.Forbidden, $"cannot promote {name}: snapshots {NameList(foreign)} would move and were not created by Cairn");
        }
        await _cli.Mutate(["promote", name], $"cannot promote {name}", ct, retryBusy: true);
        await RefreshNowAsync(name, null, ct);
        return new Outcome(Dataset: name);
    }

    /// <summary>Reads the pool of <paramref name="name"/> again whole; open devices keep their size cells across a rename.</summary>
    private async Task RefreshNowAsync(string name, Func<string, string>? renamed, CancellationToken ct)
    {
        await _attach.WaitAsync(ct);
        try { await RefreshPoolAsync(name.Split('/', '@')[0], ct, renamed); }
        finally { _attach.Release(); }
    }
}
