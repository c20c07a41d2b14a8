namespace Cairn.Export.Tgt;

/// <summary>One logical unit of a tgt target (never LUN 0, tgt's own controller).</summary>
internal sealed record TgtLun(int Lun, string? Path, bool ReadOnly);

/// <summary>An I_T nexus (session) of a tgt target: its id (<c>--sid</c>) and its connections' ids (<c>--cid</c>).</summary>
internal sealed record TgtSession(string Initiator, string? Address, int Sid = 0, IReadOnlyList<int>? Connections = null);

/// <summary>A target as <c>tgtadm --mode target --op show</c> prints it.</summary>
internal sealed record TgtTarget(int Tid, string Name, IReadOnlyList<TgtLun> Luns, IReadOnlyList<string> Accounts, string? OutgoingAccount, IReadOnlyList<string> Acl, IReadOnlyList<TgtSession> Sessions, string State);

/// <summary>Parses tgtadm's text output (tgt 1.0.x): indentation-structured sections, one target per <c>Target N: NAME</c> line.</summary>
internal static class TgtParser
{
    public static IReadOnlyList<TgtTarget> ParseTargets(string text)
    {
        var targets = new List<TgtTarget>();
        Builder? t = null;
        string section = "";
        int? lun = null;
        string? path = null;
        bool ro = false;
        TgtSession? pendingSession = null;
        int sid = 0;

        void EndLun()
        {
            if (t is not null && lun is { } n && n != 0) t.Luns.Add(new TgtLun(n, path, ro));
            lun = null; path = null; ro = false;
        }
        void EndSession()
        {
            if (t is not null && pendingSession is not null) t.Sessions.Add(pendingSession);
            pendingSession = null;
        }
        void EndTarget()
        {
            EndLun();
            EndSession();
            if (t is not null) targets.Add(t.Build());
            t = null;
        }

        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            var indent = line.Length - line.TrimStart().Length;
            var s = line.Trim();
            if (indent == 0 && s.StartsWith("Target ", StringComparison.Ordinal))
            {
                EndTarget();
                var colon = s.IndexOf(':', StringComparison.Ordinal);
                if (colon < 0 || !int.TryParse(s.AsSpan(7, colon - 7), out var tid)) continue;
                t = new Builder(tid, s[(colon + 1)..].Trim());
                section = "";
                continue;
            }
            if (t is null) continue;
            if (indent == 4)
            {
                EndLun();
                EndSession();
                section = s;
                continue;
            }
            switch (section)
            {
                case "System information:":
                    if (s.StartsWith("State:", StringComparison.Ordinal)) t.State = s["State:".Length..].Trim();
                    break;
                case "I_T nexus information:":
                    if (s.StartsWith("I_T nexus:", StringComparison.Ordinal))
                    {
                        EndSession();
                        sid = int.TryParse(s.AsSpan("I_T nexus:".Length).Trim(), out var n) ? n : 0;
                    }
                    else if (s.StartsWith("Initiator:", StringComparison.Ordinal))
                    {
                        var name = s["Initiator:".Length..].Trim();
                        var alias = name.IndexOf(" alias:", StringComparison.Ordinal);
                        pendingSession = new TgtSession(alias < 0 ? name : name[..alias], null, sid, []);
                    }
                    else if (s.StartsWith("Connection:", StringComparison.Ordinal) && pendingSession is not null
                             && int.TryParse(s.AsSpan("Connection:".Length).Trim(), out var cid))
                        pendingSession = pendingSession with { Connections = [.. pendingSession.Connections ?? [], cid] };
                    else if (s.StartsWith("IP Address:", StringComparison.Ordinal) && pendingSession is not null && pendingSession.Address is null)
                        pendingSession = pendingSession with { Address = s["IP Address:".Length..].Trim() };
                    break;
                case "LUN information:":
                    if (s.StartsWith("LUN:", StringComparison.Ordinal))
                    {
                        EndLun();
                        lun = int.TryParse(s.AsSpan(4).Trim(), out var n) ? n : null;
                    }
                    else if (s.StartsWith("Backing store path:", StringComparison.Ordinal))
                    {
                        var p = s["Backing store path:".Length..].Trim();
                        path = p is "None" or "" ? null : p;
                    }
                    else if (s.StartsWith("Readonly:", StringComparison.Ordinal)) ro = s.EndsWith("Yes", StringComparison.Ordinal);
                    break;
                case "Account information:":
                    if (s.EndsWith(" (outgoing)", StringComparison.Ordinal)) t.Outgoing = s[..^" (outgoing)".Length];
                    else t.Accounts.Add(s);
                    break;
                case "ACL information:":
                    t.Acl.Add(s);
                    break;
            }
        }
        EndTarget();
        return targets;
    }

    /// <summary>User names of <c>tgtadm --mode account --op show</c>.</summary>
    public static IReadOnlyList<string> ParseAccounts(string text) =>
        [.. text.Split('\n').Skip(1).Select(l => l.Trim()).Where(l => l.Length > 0)];

    private sealed class Builder(int tid, string name)
    {
        public readonly List<TgtLun> Luns = [];
        public readonly List<string> Accounts = [];
        public readonly List<string> Acl = [];
        public readonly List<TgtSession> Sessions = [];
        public string? Outgoing;
        public string State = "";

        public TgtTarget Build() => new(tid, name, Luns, Accounts, Outgoing, Acl, Sessions, State);
    }
}
