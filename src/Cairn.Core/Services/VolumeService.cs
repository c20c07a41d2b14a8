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
/// The one place that changes volumes and snapshots: it keeps the engine (truth for what exists and its data) and
/// the state store (identity, project, status, API attributes) in step. Each change is: engine op (durable), then
/// store write (durable), then acknowledge. A crash between the two is repaired by <see cref="ReconcileAsync"/> at start.
/// </summary>
public sealed class VolumeService(IVolumeEngine engine, IStateStore store, ILogger<VolumeService> log)
{
    /// <summary>Project of volumes created through the admin API.</summary>
    public const string AdminProject = "admin";

    private readonly KeyedLock _locks = new();

    public IVolumeEngine Engine => engine;
    public IStateStore Store => store;

    /// <summary>Guards used by other services (targets) that must not race with volume changes on the same name.</summary>
    public KeyedLock Locks => _locks;

    /// <summary>Set by the target service: returns the IQNs of targets that use a dataset (to refuse destroying it).</summary>
    public Func<string, IReadOnlyList<string>>? TargetsUsing { get; set; }

    public async Task<VolumeView> CreateVolumeAsync(string name, long size, bool parents, string project = AdminProject, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        Sizes.ValidateVolumeSize(size);
        DatasetInfo ds;
        using (_locks.Acquire(name))
        {
            ds = engine.CreateVolume(name, size, parents);
            var now = DateTimeOffset.UtcNow;
            var rec = new VolumeRecord(ds.Id, project, ds.Name, "available", ds.Size, now, now);
            await WriteAsync(w => w.Put(rec), ct, derivable: project == AdminProject);
            return new VolumeView(ds, rec);
        }
    }

    public async Task<VolumeView> CloneAsync(string source, string snapshot, string target, bool parents, string project = AdminProject, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(source + "@" + snapshot);
        Names.ValidateDataset(target);
        using (_locks.Acquire(target))
        {
            var ds = engine.Clone(source, snapshot, target, parents);
            var now = DateTimeOffset.UtcNow;
            var rec = new VolumeRecord(ds.Id, project, ds.Name, "available", ds.Size, now, now);
            await WriteAsync(w => w.Put(rec), ct, derivable: project == AdminProject);
            return new VolumeView(ds, rec);
        }
    }

    public async Task<SnapshotInfo> CreateSnapshotAsync(string dataset, string snapshot, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        using (_locks.Acquire(dataset))
        {
            var volume = RequireRecord(dataset);
            var snap = engine.CreateSnapshot(dataset, snapshot);
            var now = DateTimeOffset.UtcNow;
            await WriteAsync(w => w.Put(new SnapshotRecord(snap.Id, volume.Id, snap.Name, "available", snap.Size, now, now)), ct, derivable: volume.Project == AdminProject);
            return snap;
        }
    }

    public async Task DestroySnapshotAsync(string dataset, string snapshot, CancellationToken ct = default)
    {
        Names.ValidateSnapshot(dataset + "@" + snapshot);
        using (_locks.Acquire(dataset))
        {
            var users = TargetsUsing?.Invoke(dataset + "@" + snapshot) ?? [];
            if (users.Count > 0)
                throw CairnException.Conflict($"snapshot {dataset}@{snapshot} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}");
            var snap = engine.GetSnapshot(dataset, snapshot) ?? throw CairnException.NotFound($"snapshot {dataset}@{snapshot} does not exist");
            engine.DestroySnapshot(dataset, snapshot);
            await WriteAsync(w => w.DeleteSnapshot(snap.Id), ct, derivable: true);
        }
    }

    public async Task DestroyAsync(string name, bool recursive, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        using (_locks.Acquire(name))
        {
            var ds = engine.Get(name) ?? throw CairnException.NotFound($"volume {name} does not exist");
            // Everything that goes away with it: the dataset, children (recursive folders) and their snapshots.
            var doomed = recursive ? engine.List(name) : [ds];
            var snapsOf = doomed.ToDictionary(d => d.Name, d => engine.ListSnapshots(d.Name));
            var snaps = snapsOf.Values.SelectMany(x => x).ToList();
            if (TargetsUsing is { } using_)
            {
                foreach (var d in doomed)
                {
                    var users = using_(d.Name).Concat(snapsOf[d.Name].SelectMany(s => using_(s.FullName))).Distinct().ToList();
                    if (users.Count > 0)
                        throw CairnException.Conflict($"volume {d.Name} is exported by target{(users.Count > 1 ? "s" : "")} {string.Join(", ", users)}; delete the target first");
                }
            }
            engine.Destroy(name, recursive);
            await WriteAsync(w =>
            {
                foreach (var s in snaps) w.DeleteSnapshot(s.Id);
                foreach (var d in doomed) w.DeleteVolume(d.Id);
            }, ct, derivable: true);
        }
    }

    public async Task<VolumeView> ResizeAsync(string name, long size, CancellationToken ct = default)
    {
        Names.ValidateDataset(name);
        Sizes.ValidateVolumeSize(size);
        using (_locks.Acquire(name))
        {
            var rec = RequireRecord(name);
            var ds = engine.Resize(name, size);
            var upd = rec with { Size = ds.Size, Updated = DateTimeOffset.UtcNow };
            await WriteAsync(w => w.Put(upd), ct);
            return new VolumeView(ds, upd);
        }
    }

    /// <summary>
    /// Runs a batch of engine operations with one engine commit and one store commit. Each op succeeds or fails on its
    /// own. Ops are idempotent where a retry after a crash could find them done: a create/clone whose target already
    /// exists as asked (same size / same origin), a snapshot that exists, or a destroy of something already gone
    /// count as done.
    /// </summary>
    public async Task<IReadOnlyList<EngineOpResult>> ApplyAsync(IReadOnlyList<EngineOp> ops, string project = AdminProject, CancellationToken ct = default)
    {
        var keys = ops.Select(KeyOf).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        using (_locks.Acquire(keys))
        {
            // What destroys will remove, captured before they run (by id: no scan of all records).
            var doomed = new Dictionary<int, (List<Guid> Volumes, List<Guid> Snapshots)>();
            for (int i = 0; i < ops.Count; i++)
            {
                if (ops[i] is EngineOp.Destroy d && engine.Get(d.Name) is { } ds)
                {
                    var sets = d.Recursive ? engine.List(d.Name) : [ds];
                    doomed[i] = (sets.Select(x => x.Id).ToList(), sets.SelectMany(x => engine.ListSnapshots(x.Name)).Select(x => x.Id).ToList());
                }
                else if (ops[i] is EngineOp.DestroySnapshot ds2 && engine.GetSnapshot(ds2.Dataset, ds2.Name) is { } sn)
                    doomed[i] = ([], [sn.Id]);
            }
            var results = engine.Apply(ops).ToArray();
            var now = DateTimeOffset.UtcNow;
            var puts = new List<VolumeRecord>();
            var snapPuts = new List<SnapshotRecord>();
            var volDeletes = new List<Guid>();
            var snapDeletes = new List<Guid>();
            for (int i = 0; i < results.Length; i++)
            {
                var (op, err) = (results[i].Op, results[i].Error);
                bool retried = false;
                if (err is not null)
                {
                    if (!AlreadyDone(op, err)) continue;
                    results[i] = results[i] with { Error = null };
                    retried = true;
                }
                // Only an op a crashed run already did can have a record to keep; fresh ones skip the store read.
                switch (op)
                {
                    case EngineOp.CreateVolume c when engine.Get(c.Name) is { } d:
                        puts.Add((retried ? store.GetVolume(d.Id) : null) ?? new VolumeRecord(d.Id, project, d.Name, "available", d.Size, now, now));
                        break;
                    case EngineOp.CloneSnapshot c when engine.Get(c.Target) is { } d:
                        puts.Add((retried ? store.GetVolume(d.Id) : null) ?? new VolumeRecord(d.Id, project, d.Name, "available", d.Size, now, now));
                        break;
                    case EngineOp.CreateSnapshot s when engine.GetSnapshot(s.Dataset, s.Name) is { } sn && engine.Get(s.Dataset) is { } vol:
                        snapPuts.Add(new SnapshotRecord(sn.Id, vol.Id, sn.Name, "available", sn.Size, now, now));
                        break;
                    case EngineOp.Destroy or EngineOp.DestroySnapshot when doomed.TryGetValue(i, out var gone):
                        volDeletes.AddRange(gone.Volumes);
                        snapDeletes.AddRange(gone.Snapshots);
                        break;
                }
            }
            if (puts.Count + snapPuts.Count + volDeletes.Count + snapDeletes.Count > 0)
            {
                await WriteAsync(w =>
                {
                    foreach (var r in puts) w.Put(r);
                    foreach (var r in snapPuts) w.Put(r);
                    foreach (var id in volDeletes) w.DeleteVolume(id);
                    foreach (var id in snapDeletes) w.DeleteSnapshot(id);
                }, ct);
            }
            return results;
        }
    }

    private bool AlreadyDone(EngineOp op, CairnException err) => (op, err.Kind) switch
    {
        (EngineOp.CloneSnapshot c, ErrorKind.AlreadyExists) => engine.Get(c.Target)?.Origin == c.Source + "@" + c.Snapshot,
        (EngineOp.CreateVolume c, ErrorKind.AlreadyExists) => engine.Get(c.Name) is { Kind: DatasetKind.Volume } d && d.Size == c.Size,
        (EngineOp.CreateSnapshot, ErrorKind.AlreadyExists) => true,
        (EngineOp.Destroy, ErrorKind.NotFound) => true,
        (EngineOp.DestroySnapshot, ErrorKind.NotFound) => true,
        _ => false,
    };

    private static string KeyOf(EngineOp op) => op switch
    {
        EngineOp.CreateVolume c => c.Name,
        EngineOp.CreateFolder c => c.Name,
        EngineOp.CreateSnapshot s => s.Dataset,
        EngineOp.CloneSnapshot c => c.Target,
        EngineOp.Destroy d => d.Name,
        EngineOp.DestroySnapshot d => d.Dataset,
        EngineOp.Resize r => r.Name,
        _ => "",
    };

    public VolumeView? Get(string name)
    {
        var ds = engine.Get(name);
        return ds is null ? null : new VolumeView(ds, store.GetVolume(ds.Id));
    }

    public IReadOnlyList<VolumeView> List(string? root = null)
    {
        var records = store.ListVolumes().ToDictionary(r => r.Id);
        return engine.List(root).Select(d => new VolumeView(d, records.GetValueOrDefault(d.Id))).ToList();
    }

    private VolumeRecord RequireRecord(string name)
    {
        var ds = engine.Get(name) ?? throw CairnException.NotFound($"volume {name} does not exist");
        if (ds.Kind != DatasetKind.Volume) throw CairnException.Invalid($"{name} is a folder, not a volume");
        var now = DateTimeOffset.UtcNow;
        return store.GetVolume(ds.Id) ?? new VolumeRecord(ds.Id, AdminProject, ds.Name, "available", ds.Size, now, now);
    }

    private Task WriteAsync(Action<IStateWriter> changes, CancellationToken ct, bool derivable = false) =>
        // The engine change is already durable: finish recording it even if the caller went away. Records that
        // ReconcileAsync rebuilds from the engine alone (admin-project volumes and snapshots, deletions) need no sync
        // of their own: after a crash the engine, which is durable, brings them back exactly.
        store.WriteAsync(changes, durable: !derivable, CancellationToken.None).WaitAsync(ct);

    /// <summary>
    /// Brings the store in line with the engine after a start (possibly after a crash): the engine is the truth for
    /// what exists. Records of datasets that are gone are removed; datasets without a record (the process died
    /// between the engine commit and the store commit) get one. Returns the number of repairs.
    /// </summary>
    public async Task<int> ReconcileAsync(CancellationToken ct = default)
    {
        var datasets = engine.List().Where(d => d.Kind == DatasetKind.Volume).ToDictionary(d => d.Id);
        var snapshots = engine.ListSnapshots().ToDictionary(s => s.Id);
        var volRecords = store.ListVolumes();
        var snapRecords = store.ListSnapshots();
        var now = DateTimeOffset.UtcNow;
        var changes = new List<Action<IStateWriter>>();
        foreach (var r in volRecords)
        {
            if (!datasets.TryGetValue(r.Id, out var d)) changes.Add(w => w.DeleteVolume(r.Id));
            else if (d.Name != r.Name || d.Size != r.Size) changes.Add(w => w.Put(r with { Name = d.Name, Size = d.Size, Updated = now }));
        }
        var known = volRecords.Select(r => r.Id).ToHashSet();
        foreach (var d in datasets.Values.Where(d => !known.Contains(d.Id)))
            changes.Add(w => w.Put(new VolumeRecord(d.Id, AdminProject, d.Name, "available", d.Size, d.Created, now)));
        foreach (var r in snapRecords.Where(r => !snapshots.ContainsKey(r.Id)))
            changes.Add(w => w.DeleteSnapshot(r.Id));
        var knownSnaps = snapRecords.Select(r => r.Id).ToHashSet();
        var byName = datasets.Values.ToDictionary(d => d.Name);
        foreach (var s in snapshots.Values.Where(s => !knownSnaps.Contains(s.Id)))
        {
            if (byName.TryGetValue(s.Dataset, out var vol))
                changes.Add(w => w.Put(new SnapshotRecord(s.Id, vol.Id, s.Name, "available", s.Size, s.Created, now)));
        }
        if (changes.Count > 0)
        {
            await store.WriteAsync(w => { foreach (var c in changes) c(w); }, ct);
            log.LogInformation("Reconciled state store with the engine: {Count} repairs", changes.Count);
        }
        return changes.Count;
    }
}
