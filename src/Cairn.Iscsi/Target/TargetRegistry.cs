using System.Collections.Concurrent;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Target;

/// <summary>
/// One iSCSI target as the transport serves it. Immutable: change a target by registering a new instance
/// (<c>registry.AddOrUpdate(target with { … })</c>).
/// </summary>
public sealed record IscsiTarget
{
    private readonly string _iqn = "";
    private readonly IReadOnlyCollection<string> _initiators = [];

    /// <summary>Target IQN; stored lower-case (iSCSI names compare case-insensitively, RFC 3722).</summary>
    public required string Iqn { get => _iqn; init => _iqn = value.Trim().ToLowerInvariant(); }

    /// <summary>LUN number (0..16383) → logical unit. Units are shared by all sessions; the registry does not dispose them.</summary>
    public IReadOnlyDictionary<int, IScsiLogicalUnit> Luns { get; init; } = new Dictionary<int, IScsiLogicalUnit>();

    /// <summary>Initiator IQNs allowed to see and log in to this target (lower-cased). <c>*</c> allows any initiator.</summary>
    public IReadOnlyCollection<string> Initiators
    {
        get => _initiators;
        init => _initiators = value.Select(i => i.Trim().ToLowerInvariant()).Distinct().ToArray();
    }

    /// <summary>One-way CHAP: the initiator must prove this secret. Null: no authentication.</summary>
    public ChapSecret? Chap { get; init; }

    /// <summary>Mutual CHAP: what the target answers with when the initiator challenges it.</summary>
    public ChapSecret? MutualChap { get; init; }

    /// <summary>Target portal group tag (RFC 7143 §13.9).</summary>
    public ushort PortalGroupTag { get; init; } = 1;

    /// <summary>Optional TargetAlias.</summary>
    public string? Alias { get; init; }

    /// <summary>True when <paramref name="initiatorName"/> is on the allow-list.</summary>
    public bool Allows(string initiatorName)
    {
        foreach (var i in _initiators)
            if (i == "*" || string.Equals(i, initiatorName, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}

/// <summary>Why the target ends a session.</summary>
public enum SessionEndReason
{
    /// <summary>The target was removed.</summary>
    TargetRemoved,
    /// <summary>The initiator was taken off the allow-list.</summary>
    AccessRevoked,
    /// <summary>The same initiator port logged in again (session reinstatement, RFC 7143 §6.3.5).</summary>
    Reinstated,
    /// <summary>The server is stopping.</summary>
    Shutdown,
    /// <summary>A TARGET COLD RESET: every connection to the target is closed at once (RFC 7143 §11.5.1).</summary>
    TargetColdReset,
    /// <summary>An administrator ended the session (the initiator may log in again).</summary>
    Ended,
}

/// <summary>A live session as the registry sees it.</summary>
public interface IIscsiSession
{
    string TargetName { get; }
    string InitiatorName { get; }
    ulong Isid { get; }
    ushort Tsih { get; }

    /// <summary>The initiator's IP address, when the transport knows it.</summary>
    string? InitiatorAddress => null;

    /// <summary>Asks the session to end: the initiator is asked to log out, then the connection is closed.</summary>
    void End(SessionEndReason reason);
}

/// <summary>
/// The targets this server exports, in memory and thread-safe. The server fills it from its store; every change takes
/// effect for new logins at once, and removing a target or revoking an initiator ends the affected live sessions.
/// </summary>
public sealed class TargetRegistry
{
    private readonly ConcurrentDictionary<string, IscsiTarget> _targets = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<IIscsiSession, byte> _sessions = new();
    private readonly ConcurrentDictionary<string, IscsiTargetCounters> _counters = new(StringComparer.OrdinalIgnoreCase);
    private readonly IscsiTargetCounters _retired = new(); // the figures of removed targets, so the totals never go down
    private int _version;
    private int _nextTsih;

    /// <summary>Bumped on every change; connections re-read their target when it moves.</summary>
    public int Version => Volatile.Read(ref _version);

    /// <summary>All targets.</summary>
    public IReadOnlyCollection<IscsiTarget> Targets => _targets.Values.ToArray();

    /// <summary>Live sessions (normal, logged in).</summary>
    public IReadOnlyCollection<IIscsiSession> Sessions => _sessions.Keys.ToArray();

    /// <summary>Adds a target or replaces the one with the same IQN. Sessions of initiators no longer allowed are ended.</summary>
    public void AddOrUpdate(IscsiTarget target)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(target.Iqn);
        _targets[target.Iqn] = target;
        Interlocked.Increment(ref _version);
        foreach (var s in SessionsOf(target.Iqn))
            if (!target.Allows(s.InitiatorName)) s.End(SessionEndReason.AccessRevoked);
    }

    /// <summary>Removes a target and ends its live sessions. Returns false when it was not registered.</summary>
    public bool Remove(string iqn)
    {
        if (!_targets.TryRemove(iqn.Trim(), out _)) return false;
        if (_counters.TryRemove(iqn.Trim(), out var gone)) gone.AddTo(_retired);
        Interlocked.Increment(ref _version);
        foreach (var s in SessionsOf(iqn)) s.End(SessionEndReason.TargetRemoved);
        return true;
    }

    /// <summary>Adds an initiator to a target's allow-list. Returns false when the target does not exist.</summary>
    public bool Allow(string iqn, string initiator)
    {
        while (true)
        {
            if (!_targets.TryGetValue(iqn.Trim(), out var t)) return false;
            var updated = t with { Initiators = t.Initiators.Append(initiator).ToArray() };
            if (_targets.TryUpdate(t.Iqn, updated, t)) { Interlocked.Increment(ref _version); return true; }
        }
    }

    /// <summary>Removes an initiator from a target's allow-list and ends its sessions. Returns false when the target does not exist.</summary>
    public bool Deny(string iqn, string initiator)
    {
        while (true)
        {
            if (!_targets.TryGetValue(iqn.Trim(), out var t)) return false;
            var name = initiator.Trim();
            var updated = t with { Initiators = t.Initiators.Where(i => !string.Equals(i, name, StringComparison.OrdinalIgnoreCase)).ToArray() };
            if (!_targets.TryUpdate(t.Iqn, updated, t)) continue;
            Interlocked.Increment(ref _version);
            foreach (var s in SessionsOf(t.Iqn))
                if (!updated.Allows(s.InitiatorName)) s.End(SessionEndReason.AccessRevoked);
            return true;
        }
    }

    /// <summary>The target with this IQN (case-insensitive), or null.</summary>
    public IscsiTarget? Find(string iqn) => _targets.TryGetValue(iqn.Trim(), out var t) ? t : null;

    /// <summary>Targets an initiator may log in to (what SendTargets shows it), ordered by IQN.</summary>
    public IReadOnlyList<IscsiTarget> VisibleTo(string initiatorName)
        => _targets.Values.Where(t => t.Allows(initiatorName)).OrderBy(t => t.Iqn, StringComparer.Ordinal).ToArray();

    /// <summary>Live sessions on one target.</summary>
    public IReadOnlyList<IIscsiSession> SessionsOf(string iqn)
        => _sessions.Keys.Where(s => string.Equals(s.TargetName, iqn.Trim(), StringComparison.OrdinalIgnoreCase)).ToArray();

    /// <summary>Ends every session (server shutdown).</summary>
    public void EndAll(SessionEndReason reason)
    {
        foreach (var s in _sessions.Keys) s.End(reason);
    }

    /// <summary>
    /// The command counters of target <paramref name="iqn"/>: kept across updates of the target, dropped when it is
    /// removed. Sessions fetch them once, at login.
    /// </summary>
    public IscsiTargetCounters CountersFor(string iqn) => _counters.GetOrAdd(iqn.Trim(), static _ => new IscsiTargetCounters());

    /// <summary>
    /// Every command counter there is (those of live targets, and one with what removed targets had counted), for totals
    /// that only grow. Read on scrape.
    /// </summary>
    public IEnumerable<IscsiTargetCounters> AllCounters => _counters.Values.Append(_retired);

    internal ushort NextTsih()
    {
        while (true)
        {
            var v = (ushort)Interlocked.Increment(ref _nextTsih);
            if (v != 0) return v;
        }
    }

    /// <summary>Registers a session that reached full feature phase; an older session of the same I_T nexus is reinstated.</summary>
    internal void Attach(IIscsiSession session)
    {
        foreach (var s in _sessions.Keys)
            if (s.Isid == session.Isid
                && string.Equals(s.InitiatorName, session.InitiatorName, StringComparison.OrdinalIgnoreCase)
                && string.Equals(s.TargetName, session.TargetName, StringComparison.OrdinalIgnoreCase))
            {
                _sessions.TryRemove(s, out _);
                s.End(SessionEndReason.Reinstated);
            }
        _sessions[session] = 0;
    }

    internal void Detach(IIscsiSession session) => _sessions.TryRemove(session, out _);
}
