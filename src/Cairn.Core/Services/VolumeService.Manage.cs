using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Services;

/// <summary>The answer to a rollback: the volume as it is now, and the later snapshots the rollback destroyed.</summary>
public sealed record RollbackResult(VolumeView Volume, IReadOnlyList<string> DestroyedSnapshots);

/// <summary>
/// Rename, rollback and promote. The rule for exported volumes: each is refused (409) while a target exports what it
/// changes, with or without live sessions: a target's LUN names its volume (and tgt holds the volume's file open), and a
/// rollback changes the data under any initiator that logs in; remove the LUN first, then add it again. So a rename is
/// refused while the volume, any volume under a renamed folder, or any of their snapshots is exported; a rollback while
/// the volume or a snapshot it would destroy is; a promote while a snapshot that moves (and so changes its name) is.
/// Records follow: names after a rename, sizes after a rollback, snapshot ownership after a promote.
/// </summary>
public sealed partial class VolumeService
{
    public async Task<VolumeView> RenameAsync(string name, string newName, bool parents, Owner? owner = null, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        Names.ValidateDataset(newName);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync([name, newName], ct))
        {
            var ds = await engine.GetAsync(name, ct) ?? throw CairnException.NotFound($"{name} does not exist");
            var moving = ds.Kind == DatasetKind.Folder ? await engine.ListAsync(name, ct) : [ds];
            var records = new List<VolumeRecord>();
            foreach (var d in moving)
            {
                if (d.Kind != DatasetKind.Volume) continue;
                var snaps = await engine.ListSnapshotsAsync(d.Name, ct);
                RefuseExported($"cannot rename {name}", d.Name, snaps.Select(s => s.FullName));
                if (store.FindVolume(d.Name) is { } rec)
                {
                    if (rec.Module != who.Module) throw Foreign($"volume {d.Name}", rec.Module);
                    records.Add(rec);
                }
            }
            var r = await ApplyOneAsync(new EngineOp.Rename(name, newName, parents), ct);
            var now = DateTimeOffset.UtcNow;
            var renamed = records.Select(rec => rec with { Name = newName + rec.Name[name.Length..], Updated = now }).ToList();
            if (renamed.Count > 0) await WriteAsync(w => { foreach (var rec in renamed) w.Put(rec); }, ct, derivable: IsDerivable(who));
            return new VolumeView(r.Dataset!, renamed.Find(x => x.Name == newName));
        }
    }

    public async Task<SnapshotInfo> RenameSnapshotAsync(string dataset, string snapshot, string newSnapshot, Owner? owner = null, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        Names.ValidateSnapshot(dataset + "@" + newSnapshot);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(dataset, ct))
        {
            var snap = await engine.GetSnapshotAsync(dataset, snapshot, ct) ?? throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist");
            RefuseExported($"cannot rename snapshot {snap.FullName}", null, [snap.FullName]);
            var rec = store.GetSnapshot(snap.Id);
            if (rec is not null && rec.Module != who.Module) throw Foreign($"snapshot {snap.FullName}", rec.Module);
            var r = await ApplyOneAsync(new EngineOp.RenameSnapshot(dataset, snapshot, newSnapshot), ct);
            if (rec is not null)
            {
                var upd = rec with { Name = newSnapshot, Updated = DateTimeOffset.UtcNow };
                await WriteAsync(w => w.Put(upd), ct, derivable: IsDerivable(who));
            }
            return r.Snapshot!;
        }
    }

    public async Task<RollbackResult> RollbackAsync(string dataset, string snapshot, bool destroyLater, Owner? owner = null, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(dataset, ct))
        {
            var rec = await RequireRecordAsync(dataset, ct);
            if (rec.Module != who.Module) throw Foreign($"volume {dataset}", rec.Module);
            var snaps = await engine.ListSnapshotsAsync(dataset, ct);
            var at = snaps.ToList().FindIndex(s => s.Name == snapshot);
            if (at < 0) throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist");
            // Engines list a volume's snapshots oldest first; what the rollback may destroy is what follows.
            var later = destroyLater ? snaps.Skip(at + 1).ToList() : [];
            RefuseExported($"cannot roll back {dataset}", dataset, later.Select(s => s.FullName));
            foreach (var s in later)
                if (store.GetSnapshot(s.Id) is { } sr && sr.Module != who.Module) throw Foreign($"snapshot {s.FullName}", sr.Module);
            var r = await ApplyOneAsync(new EngineOp.Rollback(dataset, snapshot, destroyLater), ct);
            var removed = r.Removed ?? [];
            var upd = rec with { Size = r.Dataset!.Size, Updated = DateTimeOffset.UtcNow };
            await WriteAsync(w =>
            {
                w.Put(upd);
                foreach (var id in removed) w.DeleteSnapshot(id);
            }, ct, derivable: IsDerivable(who));
            var gone = snaps.Where(s => removed.Contains(s.Id)).Select(s => s.FullName).ToList();
            return new RollbackResult(new VolumeView(r.Dataset, upd), gone);
        }
    }

    public async Task<VolumeView> PromoteAsync(string name, Owner? owner = null, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        var who = owner ?? Owner.Admin;
        // The origin volume changes too (its snapshots up to the origin move): both are locked, and checked under the locks.
        var first = await engine.GetAsync(name, ct) ?? throw CairnException.NotFound($"volume {name} does not exist");
        if (first.Origin is not { } origin) throw CairnException.Invalid($"cannot promote {name}: it is not a clone");
        var (from, originSnap) = Names.ValidateSnapshot(origin);
        using (await locks.AcquireAsync([name, from], ct))
        {
            var rec = await RequireRecordAsync(name, ct);
            if (rec.Module != who.Module) throw Foreign($"volume {name}", rec.Module);
            if ((await engine.GetAsync(name, ct))?.Origin != origin) throw CairnException.Conflict($"the origin of {name} changed meanwhile; try again");
            if (store.FindVolume(from) is { } fromRec && fromRec.Module != who.Module) throw Foreign($"volume {from}", fromRec.Module);
            var fromSnaps = await engine.ListSnapshotsAsync(from, ct);
            var at = fromSnaps.ToList().FindIndex(s => s.Name == originSnap);
            var moving = fromSnaps.Take(at + 1).ToList();
            RefuseExported($"cannot promote {name}", null, moving.Select(s => s.FullName));
            var r = await ApplyOneAsync(new EngineOp.Promote(name), ct);
            var now = DateTimeOffset.UtcNow;
            var moved = moving.Select(s => store.GetSnapshot(s.Id)).OfType<SnapshotRecord>().Select(s => s with { VolumeId = rec.Id, Updated = now }).ToList();
            if (moved.Count > 0) await WriteAsync(w => { foreach (var s in moved) w.Put(s); }, ct, derivable: IsDerivable(who));
            return new VolumeView(r.Dataset!, store.FindVolume(name) ?? rec);
        }
    }

    /// <summary>Refuses when a target exports <paramref name="volume"/> or any of <paramref name="snapshots"/>.</summary>
    private void RefuseExported(string what, string? volume, IEnumerable<string> snapshots)
    {
        foreach (var n in (volume is null ? [] : new[] { volume }).Concat(snapshots))
        {
            var users = targets.Using(n);
            if (users.Count > 0)
                throw CairnException.Conflict($"{what}: {n} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}; remove that LUN (cairn target lun remove) or the target first");
        }
    }

    /// <summary>One op through the engine's batch path; its error is thrown.</summary>
    private async Task<EngineOpResult> ApplyOneAsync(EngineOp op, CancellationToken ct)
    {
        var r = (await engine.ApplyAsync([op], ct))[0];
        if (r.Error is not null) throw r.Error;
        return r;
    }
}
