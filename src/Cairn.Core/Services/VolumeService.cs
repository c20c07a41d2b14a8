using Cairn.Core.Pools;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Services;

/// <summary>A volume as the APIs show it: engine facts plus its control-plane record.</summary>
public sealed record VolumeView(DatasetInfo Dataset, VolumeRecord? Record)
{
    public Guid Id => Record?.Id ?? Dataset.Id;
    public string Status => Record?.Status ?? "available";
}

/// <summary>
/// What a module decides for its own records at reconcile time, when the dataset a record names is gone (e.g. the
/// admin module deletes the record; the Block Storage module marks its volume <c>error</c> unless it is still
/// <c>creating</c>). Records of a module with no reconciler are kept untouched.
/// </summary>
public interface IRecordReconciler
{
    /// <summary>The module whose records this decides for (<see cref="Modules"/>).</summary>
    string Module { get; }

    /// <summary>Writes what becomes of records whose dataset or snapshot no longer exists.</summary>
    void Missing(IReadOnlyList<VolumeRecord> volumes, IReadOnlyList<SnapshotRecord> snapshots, IStateWriter w);
}

/// <summary>The admin module's rule: the engine is the truth, so a record of a dataset that is gone goes too.</summary>
public sealed class AdminRecordReconciler : IRecordReconciler
{
    public string Module => Modules.Admin;

    public void Missing(IReadOnlyList<VolumeRecord> volumes, IReadOnlyList<SnapshotRecord> snapshots, IStateWriter w)
    {
        foreach (var v in volumes) w.DeleteVolume(v.Id);
        foreach (var s in snapshots) w.DeleteSnapshot(s.Id);
    }
}

/// <summary>Who asks for a change: the module and project that will own what it makes.</summary>
/// <param name="Module">Owning module (<see cref="Modules"/>).</param>
/// <param name="Project">Owning project within the module.</param>
public readonly record struct Owner(string Module, string Project)
{
    /// <summary>The admin API, CLI and LUN clone API.</summary>
    public static Owner Admin { get; } = new(Modules.Admin, Modules.Admin);
}

/// <summary>
/// The one place that changes volumes and snapshots: it keeps the engine (truth for what exists and its data) and
/// the state store (identity, owner, status, API attributes) in step. Each change is: engine op (durable), then
/// store write, then acknowledge. A crash between the two is repaired by <see cref="ReconcileAsync"/> at start.
/// Records belong to the module that made them: a module cannot destroy another module's volume.
/// </summary>
public sealed partial class VolumeService(PoolRouter engine, IStateStore store, KeyedLock locks, TargetIndex targets,
    IEnumerable<IRecordReconciler> reconcilers, ILogger<VolumeService> log)
{
    /// <summary>Project of volumes created through the admin API.</summary>
    public const string AdminProject = Modules.Admin;

    // recordFor: how the owning module shapes the record of what was made (its own id, status and attributes); by
    // default the record takes the engine's id and is available.
    public async Task<VolumeView> CreateVolumeAsync(string name, long size, bool parents, Owner? owner = null,
        IReadOnlyDictionary<string, string>? properties = null, Func<DatasetInfo, VolumeRecord>? recordFor = null, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        Sizes.ValidateVolumeSize(size);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(name, ct))
        {
            var ds = await engine.CreateVolumeAsync(name, size, parents, PropertiesFor(name, properties), ct);
            var rec = recordFor?.Invoke(ds) ?? NewRecord(ds, who);
            await WriteAsync(w => w.Put(rec), ct, derivable: IsDerivable(who));
            return new VolumeView(ds, rec);
        }
    }

    public async Task<DatasetInfo> CreateFolderAsync(string name, bool parents, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        using (await locks.AcquireAsync(name, ct))
            return await engine.CreateFolderAsync(name, parents, ct);
    }

    // recordFor: as for CreateVolumeAsync.
    public async Task<VolumeView> CloneAsync(string source, string snapshot, string target, bool parents, Owner? owner = null,
        IReadOnlyDictionary<string, string>? properties = null, Func<DatasetInfo, VolumeRecord>? recordFor = null, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(source + "@" + snapshot);
        Names.ValidateDataset(target);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(target, ct))
        {
            var ds = await engine.CloneAsync(source, snapshot, target, parents, PropertiesFor(target, properties), ct);
            var rec = recordFor?.Invoke(ds) ?? NewRecord(ds, who);
            await WriteAsync(w => w.Put(rec), ct, derivable: IsDerivable(who));
            return new VolumeView(ds, rec);
        }
    }

    // recordFor: how the owning module shapes the snapshot's record (given the engine's snapshot and the volume's
    // record); by default it takes the engine's id and is available.
    public async Task<SnapshotInfo> CreateSnapshotAsync(string dataset, string snapshot, Owner? owner = null,
        Func<SnapshotInfo, VolumeRecord, SnapshotRecord>? recordFor = null, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(dataset, ct))
        {
            var volume = await RequireRecordAsync(dataset, ct);
            var snap = await engine.CreateSnapshotAsync(dataset, snapshot, ct);
            var now = DateTimeOffset.UtcNow;
            var rec = recordFor?.Invoke(snap, volume) ?? new SnapshotRecord(snap.Id, volume.Id, snap.Name, "available", snap.Size, now, now, Module: who.Module);
            await WriteAsync(w => w.Put(rec), ct, derivable: IsDerivable(who));
            return snap;
        }
    }

    // records: what the owning module writes with the deletion, in the same commit (its own record ids).
    public async Task DestroySnapshotAsync(string dataset, string snapshot, Owner? owner = null, Action<IStateWriter>? records = null, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(dataset, ct))
        {
            var users = targets.Using(dataset + "@" + snapshot);
            if (users.Count > 0)
                throw CairnException.Conflict($"snapshot {dataset}@{snapshot} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}");
            var snap = await engine.GetSnapshotAsync(dataset, snapshot, ct) ?? throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist");
            if (store.GetSnapshot(snap.Id) is { } rec && rec.Module != who.Module)
                throw Foreign($"snapshot {dataset}@{snapshot}", rec.Module);
            await engine.DestroySnapshotAsync(dataset, snapshot, ct);
            await WriteAsync(w => { w.DeleteSnapshot(snap.Id); records?.Invoke(w); }, ct, derivable: records is null);
        }
    }

    // records: what the owning module writes with the deletion, in the same commit (its own record ids).
    public async Task DestroyAsync(string name, bool recursive, Owner? owner = null, Action<IStateWriter>? records = null, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(name, ct))
        {
            var ds = await engine.GetAsync(name, ct) ?? throw CairnException.NotFound($"volume {name} does not exist");
            // Everything that goes away with it: the dataset, children (recursive folders) and their snapshots.
            var doomed = recursive ? await engine.ListAsync(name, ct) : [ds];
            var snaps = new List<SnapshotInfo>();
            foreach (var d in doomed)
            {
                if (d.Kind != DatasetKind.Volume) continue;
                var own = await engine.ListSnapshotsAsync(d.Name, ct);
                snaps.AddRange(own);
                var users = targets.Using(d.Name).Concat(own.SelectMany(s => targets.Using(s.FullName))).Distinct().ToList();
                if (users.Count > 0)
                    throw CairnException.Conflict($"volume {d.Name} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}; delete the target first");
                if (store.FindVolume(d.Name) is { } rec && rec.Module != who.Module) throw Foreign($"volume {d.Name}", rec.Module);
            }
            await engine.DestroyAsync(name, recursive, ct);
            await WriteAsync(w =>
            {
                foreach (var s in snaps) w.DeleteSnapshot(s.Id);
                foreach (var d in doomed) w.DeleteVolume(d.Id);
                records?.Invoke(w);
            }, ct, derivable: records is null);
        }
    }

    private static CairnException Foreign(string what, string module) =>
        new(ErrorKind.Forbidden, $"{what} belongs to the {module} module; change it through that API");

    public async Task<VolumeView> ResizeAsync(string name, long size, Owner? owner = null, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        Sizes.ValidateVolumeSize(size);
        var who = owner ?? Owner.Admin;
        using (await locks.AcquireAsync(name, ct))
        {
            var rec = await RequireRecordAsync(name, ct);
            if (rec.Module != who.Module) throw Foreign($"volume {name}", rec.Module);
            var ds = await engine.ResizeAsync(name, size, ct);
            var upd = rec with { Size = ds.Size, Updated = DateTimeOffset.UtcNow };
            await WriteAsync(w => w.Put(upd), ct);
            return new VolumeView(ds, upd);
        }
    }

    /// <summary>
    /// Runs a batch of engine operations with as few engine commits as the engine allows and one store commit. Each op
    /// succeeds or fails on its own. Ops are idempotent where a retry after a crash could find them done: a
    /// create/clone whose target already exists as asked (same size / same origin), a snapshot that exists, or a
    /// destroy of something already gone count as done (no error; such a destroy has a null <c>Removed</c>, so that
    /// callers can report the name as absent).
    /// </summary>
    public async Task<IReadOnlyList<EngineOpResult>> ApplyAsync(IReadOnlyList<EngineOp> ops, Owner? owner = null, CancellationToken ct = default)
    {
        var who = owner ?? Owner.Admin;
        var keys = ops.Select(o => o is null ? "" : PoolRouter.KeyOf(o)).ToArray();
        using (await locks.AcquireAsync(keys, ct))
        {
            var ready = new EngineOp[ops.Count];
            var refused = new EngineOpResult?[ops.Count];
            // Who owns what the batch would destroy or resize: one store read for the batch, not one per op.
            var owned = ops.Select(o => o switch { EngineOp.Destroy d => d.Name, EngineOp.Resize r => r.Name, _ => null }).OfType<string>().ToList();
            var owners = owned.Count == 0 ? null : store.FindVolumes(owned).ToDictionary(r => r.Name, r => r.Module, StringComparer.Ordinal);
            for (int i = 0; i < ops.Count; i++)
            {
                ready[i] = WithProperties(ops[i]);
                if (Refuse(ops[i], who, owners) is { } why) refused[i] = new EngineOpResult(ops[i], why);
            }
            var toRun = Enumerable.Range(0, ops.Count).Where(i => refused[i] is null).ToList();
            var ran = toRun.Count == 0 ? [] : await engine.ApplyAsync(toRun.Select(i => ready[i]).ToList(), ct);
            var results = new EngineOpResult[ops.Count];
            for (int i = 0; i < ops.Count; i++) if (refused[i] is { } r) results[i] = r;
            for (int k = 0; k < toRun.Count; k++) results[toRun[k]] = ran[k] with { Op = ops[toRun[k]] };

            var now = DateTimeOffset.UtcNow;
            var puts = new List<VolumeRecord>();
            var snapPuts = new List<SnapshotRecord>();
            var deletes = new List<Guid>();
            foreach (var i in toRun)
            {
                var res = results[i];
                bool retried = false;
                if (res.Error is { } err)
                {
                    var done = await AlreadyDoneAsync(res.Op, err, ct);
                    if (done is null) continue;
                    results[i] = res = done;
                    retried = true;
                }
                switch (res.Op)
                {
                    case EngineOp.CreateVolume or EngineOp.CloneSnapshot when res.Dataset is { } d:
                        // Only an op a crashed run already did can have a record to keep; fresh ones skip the store read.
                        puts.Add((retried ? store.GetVolume(d.Id) : null) ?? NewRecord(d, who, now));
                        break;
                    case EngineOp.CreateSnapshot s when res.Snapshot is { } sn:
                        if (!retried || store.GetSnapshot(sn.Id) is null)
                            snapPuts.Add(new SnapshotRecord(sn.Id, await VolumeIdAsync(s.Dataset, ct), sn.Name, "available", sn.Size, now, now, Module: who.Module));
                        break;
                    case EngineOp.Destroy or EngineOp.DestroySnapshot when res.Removed is { } gone:
                        deletes.AddRange(gone);
                        break;
                }
            }
            if (puts.Count + snapPuts.Count + deletes.Count > 0)
            {
                await WriteAsync(w =>
                {
                    foreach (var r in puts) w.Put(r);
                    foreach (var r in snapPuts) w.Put(r);
                    // An id is a volume's or a snapshot's; deleting both kinds by id is one indexed delete each.
                    foreach (var id in deletes)
                    {
                        w.DeleteVolume(id);
                        w.DeleteSnapshot(id);
                    }
                }, ct, derivable: IsDerivable(who));
            }
            return results;
        }
    }

    /// <summary>Why an op of a batch must not run for <paramref name="who"/> (<paramref name="owners"/>: module of each record the batch destroys or resizes): it would change what another module owns, or what a target exports.</summary>
    private CairnException? Refuse(EngineOp op, Owner who, Dictionary<string, string>? owners)
    {
        switch (op)
        {
            case EngineOp.Destroy d:
                var users = targets.Using(d.Name);
                if (users.Count > 0) return CairnException.Conflict($"volume {d.Name} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}; delete the target first");
                if (owners is not null && owners.TryGetValue(d.Name, out var m) && m != who.Module) return Foreign($"volume {d.Name}", m);
                break;
            case EngineOp.DestroySnapshot s:
                var su = targets.Using(s.Dataset + "@" + s.Name);
                if (su.Count > 0) return CairnException.Conflict($"snapshot {s.Dataset}@{s.Name} is exported by target{(su.Count > 1 ? "s" : "")} {string.Join(", ", su)}");
                break;
            case EngineOp.Resize r:
                if (owners is not null && owners.TryGetValue(r.Name, out var rm) && rm != who.Module) return Foreign($"volume {r.Name}", rm);
                break;
            case EngineOp.Rename or EngineOp.RenameSnapshot or EngineOp.Rollback or EngineOp.Promote:
                // Their records (names, sizes, snapshot owners) and export checks are kept by RenameAsync and the like.
                return new CairnException(ErrorKind.NotSupported, $"{op.GetType().Name} is not a batch operation; use the rename, rollback and promote calls");
        }
        return null;
    }

    /// <summary>The result a retried op should have had, when the error only says a crashed run already did it; else null.</summary>
    private async ValueTask<EngineOpResult?> AlreadyDoneAsync(EngineOp op, CairnException err, CancellationToken ct)
    {
        switch (op, err.Kind)
        {
            case (EngineOp.CloneSnapshot c, ErrorKind.AlreadyExists):
                var clone = await engine.GetAsync(c.Target, ct);
                return clone?.Origin == c.Source + "@" + c.Snapshot ? new EngineOpResult(op, null, Dataset: clone) : null;
            case (EngineOp.CreateVolume c, ErrorKind.AlreadyExists):
                var vol = await engine.GetAsync(c.Name, ct);
                return vol is { Kind: DatasetKind.Volume } && vol.Size == c.Size ? new EngineOpResult(op, null, Dataset: vol) : null;
            case (EngineOp.CreateSnapshot s, ErrorKind.AlreadyExists):
                var snap = await engine.GetSnapshotAsync(s.Dataset, s.Name, ct);
                return snap is null ? null : new EngineOpResult(op, null, Snapshot: snap);
            case (EngineOp.Destroy or EngineOp.DestroySnapshot, ErrorKind.NotFound):
                // Gone already: done, but with no Removed list, so that callers can tell "absent" from "destroyed".
                return new EngineOpResult(op, null);
            default:
                return null;
        }
    }

    private async ValueTask<Guid> VolumeIdAsync(string dataset, CancellationToken ct) =>
        store.FindVolume(dataset)?.Id ?? (await engine.GetAsync(dataset, ct))?.Id ?? Guid.Empty;

    /// <summary>Properties reach the engine only where it can keep them (ZFS); elsewhere they are dropped, as the engine has nowhere to put them.</summary>
    private IReadOnlyDictionary<string, string>? PropertiesFor(string name, IReadOnlyDictionary<string, string>? properties) =>
        properties is { Count: > 0 } && engine.CapabilitiesOf(name).HasFlag(EngineCapabilities.Properties) ? properties : null;

    private EngineOp WithProperties(EngineOp op) => op switch
    {
        EngineOp.CreateVolume c when c.Properties is not null => c with { Properties = SafeProperties(c.Name, c.Properties) },
        EngineOp.CloneSnapshot c when c.Properties is not null => c with { Properties = SafeProperties(c.Target, c.Properties) },
        _ => op,
    };

    private IReadOnlyDictionary<string, string>? SafeProperties(string name, IReadOnlyDictionary<string, string> p)
    {
        try { return PropertiesFor(name, p); }
        catch (CairnException) { return null; } // unknown pool: the engine op itself reports it
    }

    /// <summary>What the engine behind a name's pool can do (none for an unknown pool).</summary>
    public EngineCapabilities CapabilitiesOf(string name) =>
        engine.Has(PoolRouter.PoolOf(name)) ? engine.CapabilitiesOf(name) : EngineCapabilities.None;

    public Task<VolumeView?> GetAsync(string name, CancellationToken ct = default) => GetAsync(name, store.FindVolume, ct);

    private async Task<VolumeView?> GetAsync(string name, Func<string, VolumeRecord?> record, CancellationToken ct)
    {
        var ds = await engine.GetAsync(name, ct);
        return ds is null ? null : new VolumeView(ds, record(ds.Name));
    }

    /// <summary>The engine's view of a dataset (volume or folder), or null.</summary>
    public ValueTask<DatasetInfo?> GetDatasetAsync(string name, CancellationToken ct = default) => engine.GetAsync(name, ct);

    public ValueTask<SnapshotInfo?> GetSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default) => engine.GetSnapshotAsync(dataset, snapshot, ct);

    public ValueTask<IReadOnlyList<SnapshotInfo>> ListSnapshotsAsync(string? dataset = null, CancellationToken ct = default) => engine.ListSnapshotsAsync(dataset, ct);

    public async Task<IReadOnlyList<VolumeView>> ListAsync(string? root = null, CancellationToken ct = default)
    {
        var records = store.ListVolumes().ToDictionary(r => r.Name, StringComparer.Ordinal);
        return (await engine.ListAsync(root, ct)).Select(d => new VolumeView(d, records.GetValueOrDefault(d.Name))).ToList();
    }

    /// <summary>Opens a volume, or with <paramref name="snapshot"/> a snapshot read-only, for I/O.</summary>
    public ValueTask<IBlockDevice> OpenAsync(string dataset, string? snapshot = null, CancellationToken ct = default) =>
        snapshot is null ? engine.OpenAsync(dataset, ct) : engine.OpenSnapshotAsync(dataset, snapshot, ct);

    private async Task<VolumeRecord> RequireRecordAsync(string name, CancellationToken ct)
    {
        var ds = await engine.GetAsync(name, ct) ?? throw CairnException.NotFound($"volume {name} does not exist");
        if (ds.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        return store.FindVolume(name) ?? NewRecord(ds, Owner.Admin);
    }

    private static VolumeRecord NewRecord(DatasetInfo d, Owner who, DateTimeOffset? at = null)
    {
        var now = at ?? DateTimeOffset.UtcNow;
        return new VolumeRecord(d.Id, who.Project, d.Name, "available", d.Size, now, now, Module: who.Module);
    }

    // Records that ReconcileAsync rebuilds from the engine alone (admin-module volumes and snapshots, deletions) need
    // no sync of their own: after a crash the engine, which is durable, brings them back exactly.
    private static bool IsDerivable(Owner who) => who.Module == Modules.Admin;

    private Task WriteAsync(Action<IStateWriter> changes, CancellationToken ct, bool derivable = false) =>
        // The engine change is already durable: finish recording it even if the caller went away.
        store.WriteAsync(changes, durable: !derivable, CancellationToken.None).WaitAsync(ct);

    /// <summary>
    /// Brings the store in line with the engine after a start (possibly after a crash): the engine is the truth for
    /// what exists. Datasets without a record (the process died between the engine commit and the store commit, or
    /// they were made outside Cairn) get an admin record; records whose dataset is gone are handed to their module's
    /// <see cref="IRecordReconciler"/>. Returns the number of repairs.
    /// </summary>
    public async Task<int> ReconcileAsync(CancellationToken ct = default)
    {
        var datasets = (await engine.ListAsync(null, ct)).Where(d => d.Kind == DatasetKind.Volume).ToDictionary(d => d.Name, StringComparer.Ordinal);
        var snapshots = (await engine.ListSnapshotsAsync(null, ct)).ToDictionary(s => s.Id);
        var volRecords = store.ListVolumes();
        var snapRecords = store.ListSnapshots();
        var now = DateTimeOffset.UtcNow;
        var changes = new List<Action<IStateWriter>>();
        var missing = new List<VolumeRecord>();
        foreach (var r in volRecords)
        {
            // Only pools that are attached can be judged: a pool whose engine is unavailable keeps its records.
            if (!engine.Has(PoolRouter.PoolOf(r.Name))) continue;
            if (!datasets.TryGetValue(r.Name, out var d) || (r.Module == Modules.Admin && d.Id != r.Id)) missing.Add(r);
            else if (d.Size != r.Size) changes.Add(w => w.Put(r with { Size = d.Size, Updated = now }));
        }
        var recordedNames = volRecords.Where(r => !missing.Contains(r)).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var d in datasets.Values.Where(d => !recordedNames.Contains(d.Name)))
            changes.Add(w => w.Put(new VolumeRecord(d.Id, AdminProject, d.Name, "available", d.Size, d.Created, now)));
        // As for volumes: admin records are matched by engine id, other modules' (whose ids are their own) by name.
        var volById = volRecords.GroupBy(v => v.Id).ToDictionary(g => g.Key, g => g.First());
        var snapByName = snapshots.Values.ToDictionary(s => s.FullName, StringComparer.Ordinal);
        SnapshotInfo? EngineSnapshotOf(SnapshotRecord r) =>
            r.Module == Modules.Admin ? snapshots.GetValueOrDefault(r.Id)
            : volById.TryGetValue(r.VolumeId, out var v) ? snapByName.GetValueOrDefault(v.Name + "@" + r.Name) : null;
        var missingSnaps = snapRecords.Where(r => EngineSnapshotOf(r) is null && volById.TryGetValue(r.VolumeId, out var v) && engine.Has(PoolRouter.PoolOf(v.Name))).ToList();
        var knownSnaps = snapRecords.Select(EngineSnapshotOf).OfType<SnapshotInfo>().Select(s => s.Id).ToHashSet();
        foreach (var s in snapshots.Values.Where(s => !knownSnaps.Contains(s.Id)))
        {
            if (datasets.TryGetValue(s.Dataset, out var vol))
                changes.Add(w => w.Put(new SnapshotRecord(s.Id, vol.Id, s.Name, "available", s.Size, s.Created, now)));
        }
        var byModule = reconcilers.ToDictionary(r => r.Module, StringComparer.Ordinal);
        foreach (var module in missing.Select(r => r.Module).Concat(missingSnaps.Select(s => s.Module)).Distinct())
        {
            var vols = missing.Where(r => r.Module == module).ToList();
            var snaps = missingSnaps.Where(s => s.Module == module).ToList();
            if (byModule.TryGetValue(module, out var rec)) changes.Add(w => rec.Missing(vols, snaps, w));
            else Log.NoReconciler(log, vols.Count + snaps.Count, module);
        }
        if (changes.Count > 0)
        {
            await store.WriteAsync(w => { foreach (var c in changes) c(w); }, ct);
            Log.Reconciled(log, changes.Count);
        }
        return changes.Count;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1410, Level = LogLevel.Information, Message = "reconciled the state store with the engines: {Count} repairs")]
        public static partial void Reconciled(ILogger logger, int count);

        [LoggerMessage(EventId = 1411, Level = LogLevel.Warning, Message = "{Count} records of module {Module} name datasets that are gone; no reconciler is registered for that module, so they are kept")]
        public static partial void NoReconciler(ILogger logger, int count, string module);
    }
}
