using Cairn.Core.Export;
using Cairn.Core.State;
using Cairn.Core.Storage;

namespace Cairn.Core.Services;

/// <summary>
/// What a caller asks for when creating a target. Secrets arrive in the clear and are sealed at once. A volume is
/// exported read-write by one LUN of one target unless <paramref name="Shared"/> says the initiators coordinate (a
/// cluster filesystem): two writers that do not know of each other corrupt it. Snapshots are read-only and always shareable.
/// </summary>
public sealed record TargetSpec(
    string Iqn,
    IReadOnlyList<TargetLun> Luns,
    IReadOnlyList<string> Initiators,
    string? ChapUser = null,
    string? ChapSecret = null,
    string? MutualUser = null,
    string? MutualSecret = null,
    string? Portal = null,
    bool Shared = false);

/// <summary>
/// iSCSI targets: validation, durable records, the in-memory <see cref="TargetIndex"/>, and the export of each
/// committed change through the <see cref="ExportQueue"/> (after the commit and outside the lock). The service is the
/// only writer of target records. A call returns once its change is durable and the exporter had its first try at it.
/// </summary>
public sealed class TargetService(IStateStore store, VolumeService volumes, KeyedLock locks, TargetIndex index, SecretBox secrets, ExportQueue export)
{
    public const int MaxLun = 16383;

    /// <summary>Loads the durable targets into the index; call once at start, before the exporter reconciles.</summary>
    public void Load() => index.Replace(index.List(), store.ListTargets());

    public TargetRecord? Get(string iqn) => index.Get(iqn);

    public IReadOnlyList<TargetRecord> List() => index.List();

    public int Count => index.Count;

    /// <summary>IQNs of targets exporting a volume (<c>pool/v</c>) or snapshot (<c>pool/v@s</c>).</summary>
    public IReadOnlyList<string> TargetsUsing(string datasetOrSnapshot) => index.Using(datasetOrSnapshot);

    /// <summary>Live sessions of a target, as its exporter sees them.</summary>
    public IReadOnlyList<ExportSession> Sessions(string iqn) => export.Exporter.Sessions(iqn);

    /// <summary>The plain CHAP secret, for exporters only. Never log it.</summary>
    public string OpenSecret(ChapCredential c) => secrets.Open(c.SealedSecret);

    public async Task<TargetRecord> CreateAsync(TargetSpec spec, CancellationToken ct = default)
    {
        var r = await CreateManyAsync([spec], ct);
        return r[0].Error is { } e ? throw e : r[0].Target!;
    }

    /// <summary>Validates a spec fully (names, LUNs, volumes, secrets, and what the exporter can export) without changing anything.</summary>
    public async Task<TargetRecord> ValidateAsync(TargetSpec spec, CancellationToken ct = default)
    {
        var iqn = Iqn.Normalize(spec.Iqn, "target name");
        if (spec.Luns.Count == 0) throw CairnException.Invalid($"target {iqn}: at least one LUN is needed");
        var lunNumbers = new HashSet<int>();
        foreach (var l in spec.Luns)
        {
            if (l.Lun is < 0 or > MaxLun) throw CairnException.Invalid($"target {iqn}: LUN {l.Lun} is out of range (0-{MaxLun})");
            if (!lunNumbers.Add(l.Lun)) throw CairnException.Invalid($"target {iqn}: LUN {l.Lun} is given twice");
            Names.ValidateDataset(l.Dataset);
            if (l.Snapshot is null)
            {
                if (await volumes.GetDatasetAsync(l.Dataset, ct) is not { Kind: DatasetKind.Volume })
                    throw CairnException.NotFound($"volume {l.Dataset} does not exist");
            }
            else
            {
                Names.ValidateSnapshot(l.Dataset + "@" + l.Snapshot);
                if (await volumes.GetSnapshotAsync(l.Dataset, l.Snapshot, ct) is null)
                    throw CairnException.NotFound($"snapshot {l.Dataset}@{l.Snapshot} does not exist");
            }
        }
        if (!spec.Shared) RefuseSecondWriter(iqn, spec.Luns);
        var initiators = spec.Initiators.Select(i => Iqn.Normalize(i, "initiator name")).Distinct(StringComparer.Ordinal).ToList();
        var chap = Chap(spec.ChapUser, spec.ChapSecret, "CHAP");
        var mutual = Chap(spec.MutualUser, spec.MutualSecret, "mutual CHAP");
        if (mutual is not null && chap is null) throw CairnException.Invalid("mutual CHAP needs one-way CHAP too (--chap-user/--chap-secret)");
        if (chap is not null && mutual is not null && spec.ChapSecret == spec.MutualSecret)
            throw CairnException.Invalid("the mutual CHAP secret must differ from the CHAP secret (RFC 7143 §12.1.3)");
        if (spec.Portal is not null && !System.Net.IPEndPoint.TryParse(spec.Portal, out _))
            throw CairnException.Invalid($"portal '{spec.Portal}' is not ADDR:PORT");
        var record = new TargetRecord(iqn, [.. spec.Luns.OrderBy(l => l.Lun)], initiators, chap, mutual, spec.Portal, DateTimeOffset.UtcNow);
        // What only the exporter knows (tgt: the pool's engine must give backing files).
        await export.Exporter.ValidateAsync(record, ct);
        return record;
    }

    private void RefuseSecondWriter(string iqn, IReadOnlyList<TargetLun> luns)
    {
        var twice = luns.Where(l => l.Writes).GroupBy(l => l.Dataset, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null)
            throw CairnException.Invalid($"target {iqn}: volume {twice.Key} is mapped as LUNs {string.Join(" and ", twice.Select(l => l.Lun))}; " +
                "a volume written through two LUNs is corrupted unless its users coordinate: ask for a shared volume (shared: true, --shared) if they do");
        foreach (var l in luns)
        {
            if (!l.Writes) continue;
            var others = index.Using(l.Dataset).Where(t => !string.Equals(t, iqn, StringComparison.OrdinalIgnoreCase) && Writes(t, l.Dataset)).ToList();
            if (others.Count > 0)
                throw CairnException.Conflict($"volume {l.Dataset} is already exported read-write by target {string.Join(", ", others)}; " +
                    "two targets writing one volume corrupt it unless their initiators coordinate: ask for a shared volume (shared: true, --shared) if they do");
        }
    }

    private bool Writes(string iqn, string dataset) =>
        Get(iqn)?.Luns.Any(l => l.Writes && string.Equals(l.Dataset, dataset, StringComparison.Ordinal)) ?? false;

    private ChapCredential? Chap(string? user, string? secret, string what)
    {
        if (user is null && secret is null) return null;
        if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(secret)) throw CairnException.Invalid($"{what} needs both a user and a secret");
        if (user.Length > 255 || user.Any(char.IsControl)) throw CairnException.Invalid($"{what} user is invalid");
        // RFC 7143 §12.1.3: secrets shorter than 12 bytes are guessable; initiators commonly cap them at 16+.
        if (secret.Length is < 12 or > 255) throw CairnException.Invalid($"{what} secret must be 12 to 255 characters");
        if (secret.Any(char.IsControl)) throw CairnException.Invalid($"{what} secret has control characters");
        return new ChapCredential(user, secrets.Seal(secret));
    }

    /// <summary>
    /// Creates targets with one durable commit. Each spec succeeds or fails alone. A target that already exists with
    /// the same LUNs and initiators counts as done (idempotent retries).
    /// </summary>
    public async Task<IReadOnlyList<(TargetRecord? Target, CairnException? Error)>> CreateManyAsync(IReadOnlyList<TargetSpec> specs, CancellationToken ct = default)
    {
        var results = new (TargetRecord? Target, CairnException? Error)[specs.Count];
        var added = new List<TargetRecord>();
        var keys = specs.Select(s => s.Iqn ?? "").Concat(specs.SelectMany(s => s.Luns.Select(l => l.Dataset ?? ""))).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        using (await locks.AcquireAsync(keys, ct))
        {
            var batch = new HashSet<string>(StringComparer.Ordinal);
            var writers = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < specs.Count; i++)
            {
                try
                {
                    var rec = await ValidateAsync(specs[i], ct);
                    var existing = Get(rec.Iqn);
                    if (existing is not null)
                    {
                        if (SameShape(existing, rec)) { results[i] = (existing, null); continue; }
                        throw CairnException.Exists($"target {rec.Iqn} already exists");
                    }
                    if (!batch.Add(rec.Iqn)) throw CairnException.Invalid($"target {rec.Iqn} is given twice");
                    if (!specs[i].Shared)
                    {
                        // Targets of this call are not in the index yet: a volume two of them export is caught here.
                        foreach (var l in rec.Luns.Where(l => l.Writes))
                            if (writers.TryGetValue(l.Dataset, out var first))
                                throw CairnException.Conflict($"volume {l.Dataset} is also exported read-write by target {first} of this request; ask for a shared volume (shared: true) if their initiators coordinate");
                        foreach (var l in rec.Luns.Where(l => l.Writes)) writers[l.Dataset] = rec.Iqn;
                    }
                    added.Add(rec);
                    results[i] = (rec, null);
                }
                catch (CairnException e)
                {
                    results[i] = (null, e);
                }
            }
            if (added.Count > 0)
            {
                await store.WriteAsync(w => { foreach (var t in added) w.Put(t); }, CancellationToken.None).WaitAsync(ct);
                index.Replace([], added);
            }
        }
        await export.EnqueueAsync(added.Select(t => new TargetChange(null, t)).ToList());
        return results;
    }

    private static bool SameShape(TargetRecord a, TargetRecord b) =>
        a.Luns.SequenceEqual(b.Luns) && a.Initiators.Order().SequenceEqual(b.Initiators.Order()) && (a.Chap is null) == (b.Chap is null) && (a.MutualChap is null) == (b.MutualChap is null);

    public async Task DeleteAsync(string iqn, CancellationToken ct = default)
    {
        var r = await DeleteManyAsync([iqn], ct);
        if (r[0] is { } e) throw e;
    }

    /// <summary>Deletes targets with one commit; live sessions are ended by the listener. Unknown IQNs are NotFound for that item.</summary>
    public async Task<IReadOnlyList<CairnException?>> DeleteManyAsync(IReadOnlyList<string> iqns, CancellationToken ct = default)
    {
        var results = new CairnException?[iqns.Count];
        var removed = new List<TargetRecord>();
        using (await locks.AcquireAsync(iqns.Select(i => i ?? ""), ct))
        {
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < iqns.Count; i++)
            {
                var why = Iqn.Check(iqns[i]);
                if (why is not null) { results[i] = CairnException.Invalid(why); continue; }
                var t = Get(iqns[i]);
                if (t is null) { results[i] = CairnException.NotFound($"target {iqns[i].ToLowerInvariant()} does not exist"); continue; }
                if (seen.Add(t.Iqn)) removed.Add(t);
            }
            if (removed.Count > 0)
            {
                await store.WriteAsync(w => { foreach (var t in removed) w.DeleteTarget(t.Iqn); }, CancellationToken.None).WaitAsync(ct);
                index.Replace(removed, []);
            }
        }
        await export.EnqueueAsync(removed.Select(t => new TargetChange(t, null)).ToList());
        return results;
    }

    /// <summary>Ends a target's live sessions (of one initiator when given); they may log in again. Returns how many.</summary>
    public async Task<int> EndSessionsAsync(string iqn, string? initiator, CancellationToken ct = default)
    {
        var target = Iqn.Normalize(iqn, "target name");
        var init = initiator is null ? null : Iqn.Normalize(initiator, "initiator name");
        if (Get(target) is null) throw CairnException.NotFound($"target {target} does not exist");
        return await export.Exporter.EndSessionsAsync(target, init, ct);
    }

    /// <summary>
    /// Maps one more volume or snapshot as LUN <paramref name="lun"/> (the lowest free number when null) of a target,
    /// with the same rules as at creation (one read-write export per volume unless <paramref name="shared"/>).
    /// </summary>
    public async Task<TargetRecord> AddLunAsync(string iqn, int? lun, string dataset, string? snapshot, bool shared = false, bool readOnly = false, CancellationToken ct = default)
    {
        var target = Iqn.Normalize(iqn, "target name");
        return await ChangeLunsAsync(target, dataset, async t =>
        {
            var n = lun ?? Enumerable.Range(0, MaxLun + 1).First(i => t.Luns.All(l => l.Lun != i));
            if (t.Luns.Any(l => l.Lun == n)) throw CairnException.Exists($"target {target} already has LUN {n}");
            var spec = new TargetSpec(target, [.. t.Luns, new TargetLun(n, dataset, snapshot, readOnly && snapshot is null)], t.Initiators, Shared: shared);
            // Validation as at creation (the volume exists, numbers in range, one writer), without the secrets it has sealed.
            var checkedRecord = await ValidateAsync(spec, ct);
            return t with { Luns = checkedRecord.Luns };
        }, ct);
    }

    /// <summary>Unmaps LUN <paramref name="lun"/> of a target; a target keeps at least one LUN (delete the target instead).</summary>
    public Task<TargetRecord> RemoveLunAsync(string iqn, int lun, CancellationToken ct = default)
    {
        var target = Iqn.Normalize(iqn, "target name");
        return ChangeLunsAsync(target, null, t =>
        {
            if (t.Luns.All(l => l.Lun != lun)) throw CairnException.NotFound($"target {target} has no LUN {lun}");
            if (t.Luns.Count == 1) throw CairnException.Conflict($"LUN {lun} is the only LUN of target {target}; delete the target instead (cairn target delete {target})");
            return Task.FromResult(t with { Luns = [.. t.Luns.Where(l => l.Lun != lun)] });
        }, ct);
    }

    private async Task<TargetRecord> ChangeLunsAsync(string target, string? dataset, Func<TargetRecord, Task<TargetRecord>> change, CancellationToken ct)
    {
        TargetRecord upd;
        TargetChange delta;
        using (await locks.AcquireAsync(dataset is null ? [target] : [target, dataset], ct))
        {
            var t = Get(target) ?? throw CairnException.NotFound($"target {target} does not exist");
            upd = await change(t);
            await store.WriteAsync(w => w.Put(upd), CancellationToken.None).WaitAsync(ct);
            index.Replace([t], [upd]);
            delta = new TargetChange(t, upd);
        }
        await export.EnqueueAsync([delta]);
        return upd;
    }

    /// <summary>Adds (allow) or removes (deny) an initiator; denying ends that initiator's sessions.</summary>
    public async Task<TargetRecord> SetInitiatorAsync(string iqn, string initiator, bool allow, CancellationToken ct = default)
    {
        var target = Iqn.Normalize(iqn, "target name");
        var init = Iqn.Normalize(initiator, "initiator name");
        TargetRecord upd;
        TargetChange change;
        using (await locks.AcquireAsync(target, ct))
        {
            var t = Get(target) ?? throw CairnException.NotFound($"target {target} does not exist");
            var list = t.Initiators.ToList();
            if (allow && !list.Contains(init)) list.Add(init);
            else if (!allow && !list.Remove(init)) throw CairnException.NotFound($"initiator {init} is not allowed on {target}");
            upd = t with { Initiators = list };
            await store.WriteAsync(w => w.Put(upd), CancellationToken.None).WaitAsync(ct);
            index.Replace([t], [upd]);
            change = new TargetChange(t, upd);
        }
        await export.EnqueueAsync([change]);
        return upd;
    }
}
