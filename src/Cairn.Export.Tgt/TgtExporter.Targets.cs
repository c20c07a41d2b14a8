using Cairn.Core;
using Cairn.Core.State;

namespace Cairn.Export.Tgt;

public sealed partial class TgtExporter
{
    /// <summary>Makes one tgt target equal to <paramref name="w"/>: LUNs, CHAP accounts, then the ACL (so nobody logs in before CHAP is set).</summary>
    private async Task EnsureAsync(TargetRecord w, LiveState live, CancellationToken ct)
    {
        var cur = live.Find(w.Iqn);
        if (cur is not null && !Ours(cur.Tid))
        {
            Log.ForeignNameClash(_log, w.Iqn, cur.Tid);
            throw CairnException.Exists($"tgtd already has a target {w.Iqn} (tid {cur.Tid}) that Cairn did not create; remove it or use another name");
        }
        // Paths first: a volume that cannot be reached leaves no half-made target behind.
        var luns = new List<TgtLun>(w.Luns.Count);
        foreach (var l in w.Luns)
        {
            var path = await _context.Engine.GetBackingPathAsync(l.Dataset, l.Snapshot, ct)
                ?? throw new CairnException(ErrorKind.NotSupported, $"pool {Core.Pools.PoolRouter.PoolOf(l.Dataset)} cannot be exported through tgt (its engine has no backing files); use --exporter cairn, or a ZFS pool");
            luns.Add(new TgtLun(l.Lun + 1, path, l.IsReadOnly));
        }

        int tid;
        if (cur is null)
        {
            tid = live.AllocateTid();
            await _adm.MustAsync("target", "new", ["--tid", TgtAdm.N(tid), "--targetname", w.Iqn], ct);
            Log.Created(_log, w.Iqn, tid);
        }
        else tid = cur.Tid;
        var tidArg = TgtAdm.N(tid);

        var have = cur?.Luns ?? [];
        foreach (var h in have.Where(h => !luns.Contains(h)))
            await _adm.MustAsync("logicalunit", "delete", ["--tid", tidArg, "--lun", TgtAdm.N(h.Lun)], ct, tolerated: "can't find the logical unit");
        foreach (var l in luns.Where(l => !have.Contains(l)))
        {
            await _adm.MustAsync("logicalunit", "new", ["--tid", tidArg, "--lun", TgtAdm.N(l.Lun), "--backing-store", l.Path!], ct);
            if (l.ReadOnly) await _adm.MustAsync("logicalunit", "update", ["--tid", tidArg, "--lun", TgtAdm.N(l.Lun), "--params", "readonly=1"], ct);
        }

        // CHAP: one incoming account (the initiator proves it), one outgoing (mutual: the target proves it).
        var incoming = cur?.Accounts ?? [];
        foreach (var u in incoming.Where(u => u != w.Chap?.User))
            await _adm.MustAsync("account", "unbind", ["--tid", tidArg, "--user", u], ct, tolerated: "can't find the account");
        if (cur?.OutgoingAccount is { } o && o != w.MutualChap?.User)
            await _adm.MustAsync("account", "unbind", ["--tid", tidArg, "--user", o, "--outgoing"], ct, tolerated: "can't find the account");
        if (w.Chap is { } chap)
        {
            await EnsureAccountAsync(chap, live, ct);
            if (!incoming.Contains(chap.User) || live.Recreated(chap.User))
                await _adm.MustAsync("account", "bind", ["--tid", tidArg, "--user", chap.User], ct, tolerated: "already exists");
        }
        if (w.MutualChap is { } mutual)
        {
            await EnsureAccountAsync(mutual, live, ct);
            if (cur?.OutgoingAccount != mutual.User || live.Recreated(mutual.User))
                await _adm.MustAsync("account", "bind", ["--tid", tidArg, "--user", mutual.User, "--outgoing"], ct, tolerated: "already has an outgoing account");
        }

        // The allow-list: tgt refuses the login of, and hides in SendTargets from, every initiator not in its ACL.
        var acl = cur?.Acl ?? [];
        foreach (var a in acl.Where(a => !w.Initiators.Contains(a, StringComparer.OrdinalIgnoreCase)))
            await _adm.MustAsync("target", "unbind", ["--tid", tidArg, "--initiator-name", a], ct, tolerated: "does not exist");
        foreach (var i in w.Initiators.Where(i => !acl.Contains(i, StringComparer.OrdinalIgnoreCase)))
            await _adm.MustAsync("target", "bind", ["--tid", tidArg, "--initiator-name", i], ct, tolerated: "already exists");
        if (cur is not null && cur.State != "ready")
            await _adm.MustAsync("target", "update", ["--tid", tidArg, "--name", "state", "--value", "ready"], ct);

        live.Set(new TgtTarget(tid, w.Iqn, luns, w.Chap is null ? [] : [w.Chap.User], w.MutualChap?.User, w.Initiators, cur?.Sessions ?? [], "ready"));
    }

    /// <summary>
    /// Makes the tgt account of a CHAP user hold the record's secret. An account this process did not set (Cairn
    /// restarted, the secret is unknown) is made again: tgt cannot show or change a password. Its targets are taken
    /// offline meanwhile, so that no initiator logs in without CHAP while the account is gone.
    /// </summary>
    private async Task EnsureAccountAsync(ChapCredential credential, LiveState live, CancellationToken ct)
    {
        var secret = _context.OpenSecret(credential);
        var user = credential.User;
        await _accountGate.WaitAsync(ct);
        try
        {
            bool exists = live.Accounts.Contains(user);
            string? known;
            lock (_state) _secrets.TryGetValue(user, out known);
            if (exists && known == secret) return;
            if (!exists)
            {
                await _adm.MustAsync("account", "new", ["--user", user, "--password", secret], ct, secret: secret);
            }
            else
            {
                var users = live.Snapshot().Where(t => t.Accounts.Contains(user) || t.OutgoingAccount == user).ToList();
                if (users.FirstOrDefault(t => !Ours(t.Tid)) is { } foreign)
                    throw CairnException.Exists($"CHAP user {user} is also used by tgt target {foreign.Name} (tid {foreign.Tid}), which Cairn did not create; use another user name");
                foreach (var t in users)
                    await _adm.MustAsync("target", "update", ["--tid", TgtAdm.N(t.Tid), "--name", "state", "--value", "offline"], ct);
                await _adm.MustAsync("account", "delete", ["--user", user], ct, tolerated: "can't find the account");
                await _adm.MustAsync("account", "new", ["--user", user, "--password", secret], ct, secret: secret);
                foreach (var t in users)
                {
                    var args = new List<string> { "--tid", TgtAdm.N(t.Tid), "--user", user };
                    if (t.OutgoingAccount == user) args.Add("--outgoing");
                    await _adm.MustAsync("account", "bind", args, ct, tolerated: t.OutgoingAccount == user ? "already has an outgoing account" : "already exists");
                    await _adm.MustAsync("target", "update", ["--tid", TgtAdm.N(t.Tid), "--name", "state", "--value", "ready"], ct);
                }
            }
            live.AccountMade(user);
            lock (_state) _secrets[user] = secret;
            Log.AccountSet(_log, user);
        }
        finally { _accountGate.Release(); }
    }

    /// <summary>Removes one of Cairn's targets (ending its sessions); a foreign target of that name is left alone.</summary>
    private async Task RemoveAsync(string iqn, LiveState live, List<string> failures, CancellationToken ct)
    {
        lock (_state) _applied.Remove(iqn);
        var cur = live.Find(iqn);
        if (cur is null) return;
        if (!Ours(cur.Tid))
        {
            Log.ForeignNameClash(_log, iqn, cur.Tid);
            return;
        }
        try
        {
            await _adm.MustAsync("target", "delete", ["--force", "--tid", TgtAdm.N(cur.Tid)], ct, tolerated: "can't find the target");
            live.Remove(iqn);
            Log.Removed(_log, iqn, cur.Tid);
        }
        catch (CairnException e)
        {
            Log.TargetFailed(_log, iqn, e.Message);
            failures.Add($"target {iqn}: {e.Message}");
        }
    }

    /// <summary>Deletes the accounts this process made that no tgt target uses any more.</summary>
    private async Task DropUnusedAccountsAsync(CancellationToken ct)
    {
        List<string> mine;
        lock (_state) mine = [.. _secrets.Keys];
        if (mine.Count == 0) return;
        var targets = await _adm.ShowTargetsAsync(ct);
        var used = targets.SelectMany(t => t.OutgoingAccount is null ? t.Accounts : t.Accounts.Append(t.OutgoingAccount)).ToHashSet(StringComparer.Ordinal);
        foreach (var u in mine.Where(u => !used.Contains(u)))
        {
            await _adm.MustAsync("account", "delete", ["--user", u], ct, tolerated: "can't find the account");
            lock (_state) _secrets.Remove(u);
        }
    }
}

/// <summary>tgtd's targets and accounts as last read, updated as this exporter changes them; safe for parallel target set-up.</summary>
internal sealed class LiveState
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, TgtTarget> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<int> _tids = [];
    private readonly HashSet<string> _accounts = new(StringComparer.Ordinal);
    private readonly HashSet<string> _recreated = new(StringComparer.Ordinal);
    private readonly int _firstTid;

    private LiveState(int firstTid) => _firstTid = firstTid;

    public static async Task<LiveState> LoadAsync(TgtAdm adm, TgtOptions options, CancellationToken ct)
    {
        var s = new LiveState(options.FirstTid);
        foreach (var t in await adm.ShowTargetsAsync(ct)) { s._byName[t.Name] = t; s._tids.Add(t.Tid); }
        foreach (var a in await adm.ShowAccountsAsync(ct)) s._accounts.Add(a);
        return s;
    }

    public TgtTarget? Find(string iqn) { lock (_lock) return _byName.GetValueOrDefault(iqn); }

    public IReadOnlyList<TgtTarget> Snapshot() { lock (_lock) return [.. _byName.Values]; }

    public IReadOnlyCollection<string> Accounts { get { lock (_lock) return [.. _accounts]; } }

    /// <summary>The lowest free target id in Cairn's range, reserved.</summary>
    public int AllocateTid()
    {
        lock (_lock)
        {
            var tid = _firstTid;
            while (_tids.Contains(tid)) tid++;
            _tids.Add(tid);
            return tid;
        }
    }

    public void Set(TgtTarget t) { lock (_lock) { _byName[t.Name] = t; _tids.Add(t.Tid); } }

    public void Remove(string iqn) { lock (_lock) if (_byName.Remove(iqn, out var t)) _tids.Remove(t.Tid); }

    /// <summary>An account was made (anew): every target that wants it binds it again, since tgt dropped the old bindings.</summary>
    public void AccountMade(string user) { lock (_lock) { _accounts.Add(user); _recreated.Add(user); } }

    public bool Recreated(string user) { lock (_lock) return _recreated.Contains(user); }
}
