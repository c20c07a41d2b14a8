using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Cairn.Api.Installer;

/// <summary>What the installer knows of a node from its facts (lsblk, ip addr), when facts were collected.</summary>
public sealed record NodeFacts(IReadOnlySet<string> Interfaces, IReadOnlyDictionary<string, DeviceFact> Devices);

/// <summary>One block device: in use when it has partitions, a mount point, or a filesystem that is not our brick's XFS.</summary>
public sealed record DeviceFact(string Name, string? FsType, string? Label, string? MountPoint, bool HasChildren)
{
    public string? WhyUnusable(string volume)
    {
        if (HasChildren) return "has partitions or holders";
        var ours = FsType == "xfs" && Label == "cairn-" + Name;
        if (FsType is { Length: > 0 } && !ours) return $"holds a {FsType} filesystem";
        if (MountPoint is { Length: > 0 } m && !(ours && m.Contains("/" + volume + "/", StringComparison.Ordinal))) return $"is mounted on {m}";
        return null;
    }
}

/// <summary>A known node: its id and, when collected, its facts.</summary>
public sealed record KnownNode(string NodeId, NodeFacts? Facts);

/// <summary>ConfigQingStor's layout, validated: the variables file to write (normalised) and the inventory's groups.</summary>
public sealed record ValidLayout(JsonObject Variables, IReadOnlyList<string> AccessNodes, IReadOnlyList<string> StorageNodes);

/// <summary>
/// Validates ConfigQingStor's request against the node inventory, reporting every problem at once, with no I/O. The
/// rules are GlusterFS's and keepalived's (docs/api/installer.md): brick count a whole number of sets, each set on
/// distinct nodes, disperse n = k + m ≥ 3 with m ≥ 1 and 2m &lt; n, one VIP per access node inside qs_network, no
/// duplicates, and (from facts, when collected) the interface and devices present and unused.
/// <c>ec_type</c> is the number of redundancy bricks m of a disperse set whose size n is <c>disperse</c> when given,
/// else the number of nodes of the entry; explicit <c>redundancy</c> wins over <c>ec_type</c>.
/// </summary>
public static partial class LayoutValidator
{
    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex VolumeName();

    [GeneratedRegex("^[a-z0-9][a-z0-9_.-]{0,63}$", RegexOptions.IgnoreCase)]
    private static partial Regex InterfaceName();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9:_.-]{0,63}$")]
    private static partial Regex DeviceName();

    /// <summary>The layout, or the list of every problem (each says which field and what to fix).</summary>
    public static (ValidLayout? Layout, IReadOnlyList<string> Problems) Validate(JsonObject request, IReadOnlyDictionary<string, KnownNode> inventory)
    {
        var p = new List<string>();
        var qsConf = request["qs_conf"] as JsonObject;
        // The seed's example puts access_nodes and storage_nodes beside qs_conf; accept them inside it too.
        var access = request["access_nodes"] ?? qsConf?["access_nodes"];
        var storage = request["storage_nodes"] ?? qsConf?["storage_nodes"];
        if (qsConf is null) p.Add("qs_conf: required, an object (firstbox, qs_network, zone_id, ...)");

        var networks = new List<(IPAddress Net, int Prefix, string Text)>();
        var outConf = new JsonObject();
        if (qsConf is not null)
        {
            foreach (var (k, v) in qsConf)
            {
                // The root password is never written (the playbooks never read it; AddNodes uses it once).
                if (k is "ansible_ssh_pass" or "access_nodes" or "storage_nodes") continue;
                outConf[k] = v?.DeepClone();
            }
            var nets = Field.List(qsConf["qs_network"]);
            if (nets is null || nets.Count == 0) p.Add("qs_conf.qs_network: required, a list of CIDRs such as [\"10.0.0.0/24\"]");
            else
            {
                var normal = new JsonArray();
                foreach (var n in nets)
                {
                    var s = Field.Str(n) ?? "";
                    if (ParseCidr(s) is { } c) { networks.Add((c.Net, c.Prefix, s)); normal.Add(s); }
                    else p.Add($"qs_conf.qs_network: '{s}' is not an IPv4 CIDR such as 10.0.0.0/24");
                }
                outConf["qs_network"] = normal;
            }
            foreach (var b in new[] { "with_iaas", "use_cassandra" })
                if (qsConf[b] is { } bv) { if (Field.Bool(bv) is { } bb) outConf[b] = bb; else p.Add($"qs_conf.{b}: must be true or false"); }
        }

        var seenIps = new Dictionary<string, string>(StringComparer.Ordinal);
        void Ip(string field, string? text, bool requireInNetwork = true)
        {
            if (text is null || !IPAddress.TryParse(text, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork || text.Count(c => c == '.') != 3)
            {
                p.Add($"{field}: '{text}' is not an IPv4 address");
                return;
            }
            if (requireInNetwork && networks.Count > 0 && !networks.Any(n => Contains(n.Net, n.Prefix, ip)))
                p.Add($"{field}: {text} is not inside qs_network ({string.Join(", ", networks.Select(n => n.Text))})");
            if (seenIps.TryGetValue(text, out var other)) p.Add($"{field}: {text} is also {other}; every VIP must be different");
            else seenIps[text] = field;
        }

        void Known(string field, string id)
        {
            if (!inventory.ContainsKey(id)) p.Add($"{field}: node '{id}' is not in the inventory (add it with AddNodes first)");
        }

        // Access nodes.
        var accessIds = new List<string>();
        JsonObject? outAccess = null;
        if (access is not null)
        {
            var intranet = (access as JsonObject)?["intranet"] as JsonObject;
            if (intranet is null) p.Add("access_nodes.intranet: required, an object (interface, nodes, vips, bridge_vip)");
            else
            {
                var iface = Field.Str(intranet["interface"]);
                if (iface is null || !InterfaceName().IsMatch(iface)) p.Add($"access_nodes.intranet.interface: required, a network interface name such as eth0 (got '{iface}')");
                var nodes = Field.List(intranet["nodes"]);
                if (nodes is null || nodes.Count == 0) p.Add("access_nodes.intranet.nodes: required, a non-empty list of node ids");
                else accessIds = Ids("access_nodes.intranet.nodes", nodes, p);
                var vips = Field.List(intranet["vips"]) ?? [];
                if (nodes is { Count: > 0 } && vips.Count != nodes.Count)
                    p.Add($"access_nodes.intranet.vips: {vips.Count} VIPs for {nodes.Count} access nodes; give exactly one VIP per access node (vips[i] belongs to nodes[i])");
                var vipTexts = vips.Select(Field.Str).ToList();
                for (var i = 0; i < vipTexts.Count; i++) Ip($"access_nodes.intranet.vips[{i}]", vipTexts[i]);
                var bridge = Field.Str(intranet["bridge_vip"]);
                if (bridge is null) p.Add("access_nodes.intranet.bridge_vip: required, an IPv4 address inside qs_network");
                else Ip("access_nodes.intranet.bridge_vip", bridge);
                for (var i = 0; i < accessIds.Count; i++)
                {
                    Known($"access_nodes.intranet.nodes[{i}]", accessIds[i]);
                    if (iface is not null && inventory.TryGetValue(accessIds[i], out var k) && k.Facts is { } f && !f.Interfaces.Contains(iface))
                        p.Add($"access_nodes.intranet.interface: node '{accessIds[i]}' has no interface {iface} (it has {string.Join(", ", f.Interfaces.Order(StringComparer.Ordinal))})");
                }
                outAccess = new JsonObject
                {
                    ["intranet"] = new JsonObject
                    {
                        ["interface"] = iface,
                        ["nodes"] = new JsonArray([.. accessIds.Select(x => (JsonNode?)JsonValue.Create(x))]),
                        ["vips"] = new JsonArray([.. vipTexts.Select(x => (JsonNode?)JsonValue.Create(x))]),
                        ["bridge_vip"] = bridge,
                    },
                };
            }
        }
        else p.Add("access_nodes: required (beside qs_conf): {\"intranet\": {interface, nodes, vips, bridge_vip}}");

        // Storage nodes.
        var storageIds = new List<string>();
        var outStorage = new JsonArray();
        var entries = storage as JsonArray;
        if (entries is null || entries.Count == 0) p.Add("storage_nodes: required (beside qs_conf), a non-empty list of brick sets");
        var volumes = new Dictionary<string, (long Cluster, string Type, long Set, long Redundancy, string Field)>(StringComparer.Ordinal);
        var usedDevices = new Dictionary<(string Node, string Dev), string>();
        for (var e = 0; entries is not null && e < entries.Count; e++)
        {
            var f = $"storage_nodes[{e}]";
            if (entries[e] is not JsonObject s) { p.Add($"{f}: must be an object"); continue; }
            var cluster = Field.Number(s["cluster_id"]) ?? 0;
            if (s["cluster_id"] is not null && Field.Number(s["cluster_id"]) is null or < 0) p.Add($"{f}.cluster_id: a whole number from 0");
            var volume = Field.Str(s["volume"]) ?? "vol0";
            if (!VolumeName().IsMatch(volume)) p.Add($"{f}.volume: '{volume}' is not a volume name (letters, digits, '_' and '-', at most 64)");
            var type = (Field.Str(s["vol_type"]) ?? "replicate").ToLowerInvariant();
            if (type is "erasure" or "ec" or "erasure_coded" or "disperse") type = "disperse";
            else if (type is "replica" or "replicated") type = "replicate";
            if (type is not ("replicate" or "disperse")) { p.Add($"{f}.vol_type: '{type}' is not replicate or disperse"); continue; }
            var brickCount = Field.Number(s["brick_count"]) ?? 1;
            if (brickCount < 1) p.Add($"{f}.brick_count: at least 1 (bricks per node)");
            var devices = (Field.List(s["block"]) ?? []).Select(Field.Str).Select(d => d?.StartsWith("/dev/", StringComparison.Ordinal) == true ? d[5..] : d).ToList();
            if (devices.Count == 0) p.Add($"{f}.block: required, the block devices such as \"sdb,sdc\"");
            foreach (var d in devices)
                if (d is null || !DeviceName().IsMatch(d)) p.Add($"{f}.block: '{d}' is not a device name under /dev");
            if (devices.Distinct().Count() != devices.Count) p.Add($"{f}.block: a device is listed twice");
            if (brickCount > devices.Count && devices.Count > 0) p.Add($"{f}.brick_count: {brickCount} bricks per node but block lists only {devices.Count} device(s)");
            var nodesList = Field.List(s["nodes"]);
            var ids = nodesList is null || nodesList.Count == 0 ? [] : Ids($"{f}.nodes", nodesList, p);
            if (ids.Count == 0) p.Add($"{f}.nodes: required, a non-empty list of node ids");
            for (var i = 0; i < ids.Count; i++) Known($"{f}.nodes[{i}]", ids[i]);

            long set, redundancy = 0;
            var o = new JsonObject { ["cluster_id"] = cluster, ["volume"] = volume, ["vol_type"] = type };
            if (type == "replicate")
            {
                set = Field.Number(s["replica"]) ?? 1;
                if (set < 1) p.Add($"{f}.replica: at least 1 (1 = plain distribute)");
                o["replica"] = set;
            }
            else
            {
                set = Field.Number(s["disperse"]) ?? ids.Count;
                redundancy = Field.Number(s["redundancy"]) ?? Field.Number(s["ec_type"]) ?? 0;
                if (set < 3) p.Add($"{f}: a disperse set needs n = k + m ≥ 3 bricks (disperse is {set})");
                if (redundancy < 1) p.Add($"{f}.ec_type: a disperse set needs m ≥ 1 redundancy bricks (ec_type/redundancy is {redundancy})");
                else if (2 * redundancy >= set) p.Add($"{f}.ec_type: redundancy m = {redundancy} needs 2m < n = {set}; lower ec_type or use more bricks per set");
                o["ec_type"] = redundancy;
                o["disperse"] = set;
                o["redundancy"] = redundancy;
            }
            var bricks = ids.Count * Math.Max(0, Math.Min(brickCount, devices.Count));
            if (set >= 1 && bricks > 0)
            {
                if (bricks % set != 0)
                    p.Add($"{f}: {bricks} bricks ({ids.Count} nodes × brick_count {brickCount}) is not a multiple of the set size {set}; use a multiple of {set} nodes");
                else
                {
                    // Brick order (lab contract): for each device slot, for each node; consecutive groups of `set` form a set.
                    var order = new List<string>();
                    for (var slot = 0; slot < Math.Min(brickCount, devices.Count); slot++) order.AddRange(ids);
                    for (var g = 0; g < order.Count / set; g++)
                    {
                        var members = order.Skip((int)(g * set)).Take((int)set).ToList();
                        var dup = members.GroupBy(x => x).FirstOrDefault(x => x.Count() > 1);
                        if (dup is not null) p.Add($"{f}: brick set {g} has two bricks on node '{dup.Key}'; each set's bricks must be on distinct nodes (list at least {set} different nodes)");
                    }
                }
            }
            if (volumes.TryGetValue(volume, out var prev))
            {
                if (prev.Type != type || prev.Set != set || prev.Redundancy != redundancy)
                    p.Add($"{f}: volume {volume} is {prev.Type} with sets of {prev.Set} in {prev.Field}; every entry of a volume must have the same vol_type and set size");
                if (prev.Cluster != cluster) p.Add($"{f}.cluster_id: volume {volume} already has cluster_id {prev.Cluster} in {prev.Field}");
            }
            else volumes[volume] = (cluster, type, set, redundancy, f);

            foreach (var id in ids.Distinct())
            {
                for (var slot = 0; slot < Math.Min(brickCount, devices.Count); slot++)
                {
                    var dev = devices[slot];
                    if (dev is null) continue;
                    if (usedDevices.TryGetValue((id, dev), out var where)) p.Add($"{f}.block: /dev/{dev} on node '{id}' is already a brick of {where}");
                    else usedDevices[(id, dev)] = f;
                    if (inventory.TryGetValue(id, out var k) && k.Facts is { } facts)
                    {
                        if (!facts.Devices.TryGetValue(dev, out var fact)) p.Add($"{f}.block: node '{id}' has no block device /dev/{dev}");
                        else if (fact.WhyUnusable(volume) is { } why) p.Add($"{f}.block: /dev/{dev} on node '{id}' {why}; give an empty device");
                    }
                }
                if (!storageIds.Contains(id)) storageIds.Add(id);
            }
            foreach (var key in new[] { "raid", "readonly" })
                if (s[key] is { } bv) { if (Field.Bool(bv) is { } bb) o[key] = bb; else p.Add($"{f}.{key}: must be true or false"); }
            var cls = Field.Str(s["storage_class"]) ?? "standard";
            if (cls is not ("standard" or "standard_ia")) p.Add($"{f}.storage_class: '{cls}' is not standard or standard_ia");
            o["storage_class"] = cls;
            o["brick_count"] = brickCount;
            o["block"] = string.Join(",", devices);
            o["nodes"] = new JsonArray([.. ids.Select(x => (JsonNode?)JsonValue.Create(x))]);
            outStorage.Add(o);
        }

        if (p.Count > 0) return (null, p);
        var variables = new JsonObject { ["qs_conf"] = outConf, ["access_nodes"] = outAccess, ["storage_nodes"] = outStorage };
        return (new ValidLayout(variables, accessIds, storageIds), p);
    }

    private static List<string> Ids(string field, List<JsonNode?> nodes, List<string> p)
    {
        var ids = new List<string>();
        for (var i = 0; i < nodes.Count; i++)
        {
            var id = Field.NodeId(nodes[i]);
            if (string.IsNullOrWhiteSpace(id)) { p.Add($"{field}[{i}]: a node id (a string or {{\"node_id\": ...}})"); continue; }
            if (ids.Contains(id)) p.Add($"{field}[{i}]: node '{id}' is listed twice");
            else ids.Add(id);
        }
        return ids;
    }

    public static (IPAddress Net, int Prefix)? ParseCidr(string s)
    {
        var slash = s.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(s[..slash], out var ip) || ip.AddressFamily != AddressFamily.InterNetwork) return null;
        if (!int.TryParse(s[(slash + 1)..], out var prefix) || prefix is < 0 or > 32) return null;
        return (ip, prefix);
    }

    public static bool Contains(IPAddress net, int prefix, IPAddress ip)
    {
        if (ip.AddressFamily != AddressFamily.InterNetwork) return false;
        var a = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(net.GetAddressBytes());
        var b = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes());
        var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
        return (a & mask) == (b & mask);
    }
}
