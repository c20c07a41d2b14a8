using Cairn.Core.State;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Cairn.Core.Services;

/// <summary>What a caller asks for when creating a target. Secrets arrive in the clear and are sealed at once.</summary>
public sealed record TargetSpec(
    string Iqn,
    IReadOnlyList<TargetLun> Luns,
    IReadOnlyList<string> Initiators,
    string? ChapUser = null,
    string? ChapSecret = null,
    string? MutualUser = null,
    string? MutualSecret = null,
    string? Portal = null);

/// <summary>A target change, for the iSCSI listener to apply (null Before: added; null After: removed).</summary>
public sealed record TargetChange(TargetRecord? Before, TargetRecord? After);

/// <summary>
/// iSCSI targets: validation, durable records, an in-memory index (so a change costs the same with 10 or 10,000
/// targets), and change notifications for the live iSCSI listener. The service is the only writer of target records.
/// </summary>
public sealed class TargetService
{
    public const int MaxLun = 16383;
    private readonly IStateStore _store;
    private readonly VolumeService _volumes;
    private readonly SecretBox _secrets;
    private readonly ILogger<TargetService> _log;
    private readonly object _gate = new();
    private readonly Dictionary<string, TargetRecord> _targets = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HashSet<string>> _byDataset = new(StringComparer.Ordinal);

    public TargetService(IStateStore store, VolumeService volumes, SecretBox secrets, ILogger<TargetService> log)
    {
        _store = store;
        _volumes = volumes;
        _secrets = secrets;
        _log = log;
        foreach (var t in store.ListTargets()) Index(t);
        volumes.TargetsUsing = TargetsUsing;
    }

    /// <summary>Raised after a change is durable, in commit order.</summary>
    public event Action<IReadOnlyList<TargetChange>>? Changed;

    public TargetRecord? Get(string iqn)
    {
        lock (_gate) return _targets.GetValueOrDefault(iqn);
    }

    public IReadOnlyList<TargetRecord> List()
    {
        lock (_gate) return _targets.Values.OrderBy(t => t.Iqn, StringComparer.Ordinal).ToList();
    }

    public int Count
    {
        get { lock (_gate) return _targets.Count; }
    }

    /// <summary>IQNs of targets exporting a volume (<c>pool/v</c>) or snapshot (<c>pool/v@s</c>).</summary>
    public IReadOnlyList<string> TargetsUsing(string datasetOrSnapshot)
    {
        lock (_gate) return _byDataset.TryGetValue(datasetOrSnapshot, out var s) ? [.. s.Order(StringComparer.Ordinal)] : [];
    }

    /// <summary>The plain CHAP secret, for the iSCSI listener only. Never log it.</summary>
    public string OpenSecret(ChapCredential c) => _secrets.Open(c.SealedSecret);

    public async Task<TargetRecord> CreateAsync(TargetSpec spec, CancellationToken ct = default)
    {
        var r = await CreateManyAsync([spec], ct);
        return r[0].Error is { } e ? throw e : r[0].Target!;
    }

    /// <summary>Validates a spec fully (names, LUNs, volumes, secrets) without changing anything.</summary>
    public TargetRecord Validate(TargetSpec spec)
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
                if (_volumes.Engine.Get(l.Dataset) is not { Kind: DatasetKind.Volume })
                    throw CairnException.NotFound($"volume {l.Dataset} does not exist");
            }
            else
            {
                Names.ValidateSnapshot(l.Dataset + "@" + l.Snapshot);
                if (_volumes.Engine.GetSnapshot(l.Dataset, l.Snapshot) is null)
                    throw CairnException.NotFound($"snapshot {l.Dataset}@{l.Snapshot} does not exist");
            }
        }
        var initiators = spec.Initiators.Select(i => Iqn.Normalize(i, "initiator name")).Distinct(StringComparer.Ordinal).ToList();
        var chap = Chap(spec.ChapUser, spec.ChapSecret, "CHAP");
        var mutual = Chap(spec.MutualUser, spec.MutualSecret, "mutual CHAP");
        if (mutual is not null && chap is null) throw CairnException.Invalid("mutual CHAP needs one-way CHAP too (--chap-user/--chap-secret)");
        if (chap is not null && mutual is not null && spec.ChapSecret == spec.MutualSecret)
            throw CairnException.Invalid("the mutual CHAP secret must differ from the CHAP secret (RFC 7143 §12.1.3)");
        if (spec.Portal is not null && !System.Net.IPEndPoint.TryParse(spec.Portal, out _))
            throw CairnException.Invalid($"portal '{spec.Portal}' is not ADDR:PORT");
        return new TargetRecord(iqn, [.. spec.Luns.OrderBy(l => l.Lun)], initiators, chap, mutual, spec.Portal, DateTimeOffset.UtcNow);
    }

    private ChapCredential? Chap(string? user, string? secret, string what)
    {
        if (user is null && secret is null) return null;
        if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(secret)) throw CairnException.Invalid($"{what} needs both a user and a secret");
        if (user.Length > 255 || user.Any(char.IsControl)) throw CairnException.Invalid($"{what} user is invalid");
        // RFC 7143 §12.1.3: secrets shorter than 12 bytes are guessable; initiators commonly cap them at 16+.
        if (secret.Length is < 12 or > 255) throw CairnException.Invalid($"{what} secret must be 12 to 255 characters");
        if (secret.Any(char.IsControl)) throw CairnException.Invalid($"{what} secret has control characters");
        return new ChapCredential(user, _secrets.Seal(secret));
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
        using (_volumes.Locks.Acquire(keys))
        {
            var batch = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 0; i < specs.Count; i++)
            {
                try
                {
                    var rec = Validate(specs[i]);
                    var existing = Get(rec.Iqn);
                    if (existing is not null)
                    {
                        if (SameShape(existing, rec)) { results[i] = (existing, null); continue; }
                        throw CairnException.Exists($"target {rec.Iqn} already exists");
                    }
                    if (!batch.Add(rec.Iqn)) throw CairnException.Invalid($"target {rec.Iqn} is given twice");
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
                await _store.WriteAsync(w => { foreach (var t in added) w.Put(t); }, CancellationToken.None).WaitAsync(ct);
                lock (_gate) foreach (var t in added) Index(t);
                Changed?.Invoke(added.Select(t => new TargetChange(null, t)).ToList());
            }
        }
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
        using (_volumes.Locks.Acquire([.. iqns.Select(i => i ?? "")]))
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
                await _store.WriteAsync(w => { foreach (var t in removed) w.DeleteTarget(t.Iqn); }, CancellationToken.None).WaitAsync(ct);
                lock (_gate) foreach (var t in removed) Unindex(t);
                Changed?.Invoke(removed.Select(t => new TargetChange(t, null)).ToList());
            }
        }
        return results;
    }

    /// <summary>Adds (allow) or removes (deny) an initiator; denying ends that initiator's sessions.</summary>
    public async Task<TargetRecord> SetInitiatorAsync(string iqn, string initiator, bool allow, CancellationToken ct = default)
    {
        var target = Iqn.Normalize(iqn, "target name");
        var init = Iqn.Normalize(initiator, "initiator name");
        using (_volumes.Locks.Acquire(target))
        {
            var t = Get(target) ?? throw CairnException.NotFound($"target {target} does not exist");
            var list = t.Initiators.ToList();
            if (allow && !list.Contains(init)) list.Add(init);
            else if (!allow && !list.Remove(init)) throw CairnException.NotFound($"initiator {init} is not allowed on {target}");
            var upd = t with { Initiators = list };
            await _store.WriteAsync(w => w.Put(upd), CancellationToken.None).WaitAsync(ct);
            lock (_gate) { Unindex(t); Index(upd); }
            Changed?.Invoke([new TargetChange(t, upd)]);
            return upd;
        }
    }

    private void Index(TargetRecord t)
    {
        _targets[t.Iqn] = t;
        foreach (var l in t.Luns)
        {
            var key = l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot;
            if (!_byDataset.TryGetValue(key, out var set)) _byDataset[key] = set = new HashSet<string>(StringComparer.Ordinal);
            set.Add(t.Iqn);
        }
    }

    private void Unindex(TargetRecord t)
    {
        _targets.Remove(t.Iqn);
        foreach (var l in t.Luns)
        {
            var key = l.Snapshot is null ? l.Dataset : l.Dataset + "@" + l.Snapshot;
            if (_byDataset.TryGetValue(key, out var set) && set.Remove(t.Iqn) && set.Count == 0) _byDataset.Remove(key);
        }
    }
}
