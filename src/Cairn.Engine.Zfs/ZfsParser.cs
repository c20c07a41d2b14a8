using System.Globalization;

namespace Cairn.Engine.Zfs;

/// <summary>
/// Reads <c>zfs get -H -p -o name,property,value,source</c>: one tab-separated line per property, exact numbers
/// (zfs(8): -H scripted mode, -p parsable values). zfs-fuse 0.7's <c>zfs list</c> has no <c>-p</c> (it prints the
/// guid as "5.02E"), so every figure Cairn keeps comes from <c>zfs get</c>.
/// </summary>
internal static class ZfsParser
{
    /// <summary>The properties of one dataset or snapshot: property → (value, source).</summary>
    internal sealed class Props : Dictionary<string, (string Value, string Source)>
    {
        public Props() : base(StringComparer.Ordinal) { }

        public string? Get(string p) => TryGetValue(p, out var v) && v.Value != "-" ? v.Value : null;

        /// <summary>The value when it was set on this object itself (not inherited, not a default).</summary>
        public string? Local(string p) => TryGetValue(p, out var v) && v.Source == "local" && v.Value != "-" ? v.Value : null;

        public long Long(string p) => Get(p) is { } s && long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
    }

    /// <summary>Objects in the order ZFS printed them (a dataset before its snapshots and children).</summary>
    public static List<(string Name, Props Props)> Parse(string stdout)
    {
        var result = new List<(string, Props)>();
        Props? current = null;
        string? currentName = null;
        foreach (var raw in stdout.AsSpan().EnumerateLines())
        {
            if (raw.IsEmpty) continue;
            var line = raw.ToString();
            var f = line.Split('\t');
            if (f.Length < 3) throw new FormatException($"unexpected zfs get line: {line}");
            var name = f[0];
            if (name != currentName)
            {
                current = new Props();
                currentName = name;
                result.Add((name, current));
            }
            current![f[1]] = (f[2], f.Length > 3 ? f[3] : "-");
        }
        return result;
    }

    /// <summary>Updates a dataset from what <c>zfs get</c> printed (only the properties present).</summary>
    public static void Apply(ZDataset d, Props p, bool allProperties)
    {
        if (p.Get("guid") is { } g) d.Guid = ulong.Parse(g, CultureInfo.InvariantCulture);
        if (p.ContainsKey("type")) d.IsZvol = p.Get("type") == "volume";
        if (p.ContainsKey("used")) d.Used = p.Long("used");
        if (p.ContainsKey("referenced")) d.Referenced = p.Long("referenced");
        if (p.ContainsKey("creation")) d.Creation = p.Long("creation");
        if (p.ContainsKey("origin")) d.Origin = p.Get("origin");
        if (p.ContainsKey("mounted")) d.Mounted = p.Get("mounted") == "yes";
        if (p.TryGetValue("mountpoint", out var mp))
        {
            d.Mountpoint = mp.Value is "none" or "legacy" or "-" ? null : mp.Value;
            d.MountNone = mp.Value == "none" && mp.Source == "local";
        }
        if (!allProperties) return;
        d.Mark = p.Local(ZfsProps.Managed);
        d.VolSize = d.IsZvol ? p.Long("volsize") : long.TryParse(p.Local(ZfsProps.VolSize), CultureInfo.InvariantCulture, out var vs) ? vs : 0;
        d.Props = UserProps(p);
    }

    public static void Apply(ZSnapshot s, Props p, bool allProperties)
    {
        if (p.Get("guid") is { } g) s.Guid = ulong.Parse(g, CultureInfo.InvariantCulture);
        if (p.ContainsKey("used")) s.Used = p.Long("used");
        if (p.ContainsKey("referenced")) s.Referenced = p.Long("referenced");
        if (p.ContainsKey("creation")) s.Creation = p.Long("creation");
        if (!allProperties) return;
        s.Mark = p.Local(ZfsProps.Managed);
        // A snapshot made by Cairn carries its own cairn:volsize; otherwise it shows its dataset's (inherited) value,
        // which is right for a snapshot made outside Cairn of a volume that was never resized since.
        s.VolSize = s.Dataset.IsZvol ? p.Long("volsize") : p.Long(ZfsProps.VolSize);
    }

    private static Dictionary<string, string>? UserProps(Props p)
    {
        Dictionary<string, string>? result = null;
        foreach (var (k, (v, source)) in p)
            if (k.StartsWith(ZfsProps.UserPrefix, StringComparison.Ordinal) && source == "local")
                (result ??= new(StringComparer.Ordinal))[k[ZfsProps.UserPrefix.Length..]] = v;
        return result;
    }
}
