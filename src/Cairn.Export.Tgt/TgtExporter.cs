using Cairn.Core;
using Cairn.Core.Export;
using Cairn.Core.Pools;
using Cairn.Core.Processes;
using Cairn.Core.State;
using Cairn.Core.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Cairn.Export.Tgt;

/// <summary>
/// Exports Cairn's targets through a running tgtd, driven with tgtadm only. Each Cairn target is one tgt target with a
/// target id from <see cref="TgtOptions.FirstTid"/> up (that range is how Cairn recognises its own targets, across
/// restarts of either side; lower ids are never touched), Cairn LUN n is tgt LUN n+1 (tgt keeps LUN 0 for its
/// controller), a LUN is the volume's backing file or device (snapshots read-only), the initiator allow-list is tgt's
/// initiator-name ACL, and CHAP users are tgt accounts (bound incoming, and outgoing for mutual CHAP).
/// Every step compares with what tgtd shows first, so applying a change twice does nothing the second time.
/// </summary>
public sealed partial class TgtExporter : ITargetExporter
{
    private readonly TgtOptions _options;
    private readonly IExportContext _context;
    private readonly TgtAdm _adm;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly SemaphoreSlim _accountGate = new(1, 1);
    private readonly Lock _state = new();
    // What this process applied: Cairn's targets by IQN (for CHAP checks) and the secret of every account it set.
    private readonly Dictionary<string, TargetRecord> _applied = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> _secrets = new(StringComparer.Ordinal);
    private TgtdIdentity? _identity;
    private bool _restartLogged;
    private SessionView _view = new(DateTime.MinValue, new Dictionary<string, TgtTarget>(StringComparer.OrdinalIgnoreCase));
    private int _refreshing;

    public TgtExporter(TgtOptions options, IExportContext context, IProcessRunner runner, ILogger<TgtExporter>? log = null)
    {
        options.Validate();
        _options = options;
        _context = context;
        _adm = new TgtAdm(options, runner);
        _log = log ?? (ILogger)NullLogger.Instance;
        _identity = TgtdIdentity.Read(options.SocketPath);
    }

    public string Kind => "tgt";

    /// <summary>True when the tgtd behind the control port is not the one last reconciled (its control socket was made anew).</summary>
    public bool NeedsReconcile
    {
        get
        {
            var now = TgtdIdentity.Read(_options.SocketPath);
            lock (_state)
            {
                if (now == _identity) return false;
                if (!_restartLogged) { _restartLogged = true; Log.Restarted(_log, _options.ControlPort); }
                return true;
            }
        }
    }

    /// <inheritdoc/>
    public Task ValidateAsync(TargetRecord target, CancellationToken ct)
    {
        foreach (var l in target.Luns)
        {
            var caps = _context.Engine is PoolRouter router ? router.CapabilitiesOf(l.Dataset) : _context.Engine.Capabilities;
            if (!caps.HasFlag(EngineCapabilities.BackingPaths))
                throw new CairnException(ErrorKind.NotSupported,
                    $"target {target.Iqn}: pool {PoolRouter.PoolOf(l.Dataset)} cannot be exported through tgt (its engine has no backing files); use --exporter cairn, or a ZFS pool");
        }
        if (target.Chap is { } c && target.MutualChap is { } m && c.User == m.User)
            throw CairnException.Invalid($"target {target.Iqn}: with tgt the mutual CHAP user must differ from the CHAP user (tgt keeps one account per user name)");
        lock (_state)
        {
            foreach (var (user, credential) in Credentials(target))
            {
                var secret = _context.OpenSecret(credential);
                foreach (var other in _applied.Values)
                {
                    if (string.Equals(other.Iqn, target.Iqn, StringComparison.OrdinalIgnoreCase)) continue;
                    foreach (var (u, oc) in Credentials(other))
                        if (u == user && _context.OpenSecret(oc) != secret)
                            throw CairnException.Invalid($"target {target.Iqn}: CHAP user {user} is already used by target {other.Iqn} with another secret; tgt keeps one secret per user name (use the same secret or another user)");
                }
            }
        }
        return Task.CompletedTask;
    }

    private static IEnumerable<(string User, ChapCredential Credential)> Credentials(TargetRecord t)
    {
        if (t.Chap is { } c) yield return (c.User, c);
        if (t.MutualChap is { } m) yield return (m.User, m);
    }

    public async Task ApplyAsync(IReadOnlyList<TargetChange> changes, CancellationToken ct)
    {
        if (changes.Count == 0) return;
        // The last change of each target is what it must look like; earlier ones in the batch are already superseded.
        var final = new Dictionary<string, TargetRecord?>(StringComparer.OrdinalIgnoreCase);
        foreach (var c in changes) final[(c.After ?? c.Before)!.Iqn] = c.After;
        await _gate.WaitAsync(ct);
        try
        {
            var live = await LiveState.LoadAsync(_adm, _options, ct);
            var failures = new List<string>();
            foreach (var (iqn, after) in final)
                if (after is null) await RemoveAsync(iqn, live, failures, ct);
            await EnsureAllAsync([.. final.Values.OfType<TargetRecord>()], live, failures, ct);
            if (final.ContainsValue(null)) await DropUnusedAccountsAsync(ct);
            Publish(live);
            if (failures.Count > 0) throw Failed(failures);
        }
        finally { _gate.Release(); }
    }

    public async Task ReconcileAsync(IReadOnlyList<TargetRecord> targets, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            // Read the identity first: a restart during the reconcile is then seen by the next NeedsReconcile.
            var identity = TgtdIdentity.Read(_options.SocketPath);
            var live = await LiveState.LoadAsync(_adm, _options, ct);
            var wanted = targets.Select(t => t.Iqn).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var failures = new List<string>();
            int removed = 0;
            foreach (var t in live.Snapshot().Where(t => Ours(t.Tid) && !wanted.Contains(t.Name)))
            {
                await RemoveAsync(t.Name, live, failures, ct);
                removed++;
            }
            lock (_state) foreach (var k in _applied.Keys.Where(k => !wanted.Contains(k)).ToList()) _applied.Remove(k);
            var before = live.Snapshot().Count(t => Ours(t.Tid));
            await EnsureAllAsync(targets, live, failures, ct);
            await DropUnusedAccountsAsync(ct);
            var after = live.Snapshot();
            Publish(live);
            Log.Reconciled(_log, targets.Count, _options.ControlPort, after.Count(t => Ours(t.Tid)) - before, removed, after.Count(t => !Ours(t.Tid)));
            if (failures.Count > 0) throw Failed(failures);
            lock (_state) { _identity = identity; _restartLogged = false; }
        }
        finally { _gate.Release(); }
    }

    private static CairnException Failed(List<string> failures) =>
        new(ErrorKind.Internal, failures.Count == 1 ? failures[0] : $"{failures.Count} targets failed; first: {failures[0]}");

    private bool Ours(int tid) => tid >= _options.FirstTid;

    private async Task EnsureAllAsync(IReadOnlyList<TargetRecord> targets, LiveState live, List<string> failures, CancellationToken ct)
    {
        await Parallel.ForEachAsync(targets, new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = ct }, async (t, ct2) =>
        {
            try
            {
                await EnsureAsync(t, live, ct2);
                lock (_state) _applied[t.Iqn] = t;
            }
            catch (Exception e) when (e is CairnException or IOException)
            {
                // One target that cannot be set up (its volume is gone, tgtadm refused) does not stop the others.
                Log.TargetFailed(_log, t.Iqn, e.Message);
                lock (failures) failures.Add($"target {t.Iqn}: {e.Message}");
            }
        });
    }

    public async Task<int> EndSessionsAsync(string iqn, string? initiator, CancellationToken ct)
    {
        // A fresh view, not the one-second cache: the sessions to end are the ones there now.
        var target = (await _adm.ShowTargetsAsync(ct)).FirstOrDefault(t => string.Equals(t.Name, iqn, StringComparison.OrdinalIgnoreCase));
        if (target is null || !Ours(target.Tid)) return 0;
        int n = 0;
        foreach (var s in target.Sessions)
        {
            if (initiator is not null && !string.Equals(s.Initiator, initiator, StringComparison.OrdinalIgnoreCase)) continue;
            foreach (var cid in s.Connections ?? [])
                await _adm.MustAsync("conn", "delete", ["--tid", TgtAdm.N(target.Tid), "--sid", TgtAdm.N(s.Sid), "--cid", TgtAdm.N(cid)], ct,
                    tolerated: "can't find");
            n++;
        }
        Volatile.Write(ref _view, new SessionView(DateTime.MinValue, Volatile.Read(ref _view).Targets));
        return n;
    }

    public IReadOnlyList<ExportSession> Sessions(string iqn)
    {
        var view = Volatile.Read(ref _view);
        if (DateTime.UtcNow - view.At > TimeSpan.FromSeconds(1) && Interlocked.Exchange(ref _refreshing, 1) == 0)
        {
            // tgtadm answers in milliseconds; one caller refreshes, the others use what is there.
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var targets = _adm.ShowTargetsAsync(cts.Token).GetAwaiter().GetResult();
                view = new SessionView(DateTime.UtcNow, targets.ToDictionary(t => t.Name, StringComparer.OrdinalIgnoreCase));
                Volatile.Write(ref _view, view);
            }
            catch (Exception e) when (e is CairnException or OperationCanceledException or IOException)
            {
                Log.SessionsFailed(_log, e.Message);
            }
            finally { Volatile.Write(ref _refreshing, 0); }
        }
        return view.Targets.TryGetValue(iqn, out var t) && Ours(t.Tid)
            ? [.. t.Sessions.Select(s => new ExportSession(t.Name, s.Initiator, s.Address, null))]
            : [];
    }

    private void Publish(LiveState live) =>
        Volatile.Write(ref _view, new SessionView(DateTime.UtcNow, live.Snapshot().ToDictionary(t => t.Name, StringComparer.OrdinalIgnoreCase)));

    public ValueTask DisposeAsync()
    {
        _gate.Dispose();
        _accountGate.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record SessionView(DateTime At, IReadOnlyDictionary<string, TgtTarget> Targets);
}

/// <summary>Which tgtd answers on a control port: its control socket file, which every tgtd start creates anew.</summary>
internal sealed record TgtdIdentity(long Created, long Modified)
{
    public static TgtdIdentity? Read(string socketPath)
    {
        var f = new FileInfo(socketPath);
        return f.Exists ? new TgtdIdentity(f.CreationTimeUtc.Ticks, f.LastWriteTimeUtc.Ticks) : null;
    }
}
