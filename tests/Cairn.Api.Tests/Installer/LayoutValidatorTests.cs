using System.Text.Json.Nodes;
using Cairn.Api.Installer;

namespace Cairn.Api.Tests.Installer;

/// <summary>ConfigQingStor's validation rules and the request parsing (pure: no server, no I/O).</summary>
public sealed class LayoutValidatorTests
{
    private static readonly string[] Ids = ["node_test1", "node_test2", "node_test3", "node_test4", "node_test5", "node_test6"];

    private static Dictionary<string, KnownNode> Inventory(NodeFacts? facts = null) =>
        Ids.ToDictionary(i => i, i => new KnownNode(i, facts));

    // The seed's example, with the VIPs inside qs_network.
    private static JsonObject Seed() => JsonNode.Parse("""
        {"action":"ConfigQingStor",
         "qs_conf":{"firstbox":"127.0.0.1","ansible_ssh_pass":"Zhu88jie","with_iaas":false,"zone_id":"test",
                    "qs_network":["172.17.0.0/24"],"use_cassandra":true},
         "access_nodes":{"intranet":{"interface":"eth0","nodes":["node_test1","node_test2",{"node_id":"node_test3"}],
                         "vips":["172.17.0.13","172.17.0.14","172.17.0.15"],"bridge_vip":"172.17.0.100"}},
         "storage_nodes":[{"cluster_id":0,"volume":"vol0","vol_type":"replicate","ec_type":2,"replica":3,"raid":false,
                           "storage_class":"standard","readonly":false,"brick_count":2,"block":"sdc,sdd",
                           "nodes":["node_test4","node_test5","node_test6"]}]}
        """)!.AsObject();

    private static IReadOnlyList<string> Problems(JsonObject r, Dictionary<string, KnownNode>? inv = null) =>
        LayoutValidator.Validate(r, inv ?? Inventory()).Problems;

    [Fact]
    public void SeedExampleIsValidAndDropsThePassword()
    {
        var (layout, problems) = LayoutValidator.Validate(Seed(), Inventory());
        Assert.Empty(problems);
        Assert.NotNull(layout);
        Assert.Null(layout.Variables["qs_conf"]!["ansible_ssh_pass"]);
        Assert.DoesNotContain("Zhu88jie", layout.Variables.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(["node_test1", "node_test2", "node_test3"], layout.AccessNodes);
        Assert.Equal(["node_test4", "node_test5", "node_test6"], layout.StorageNodes);
        Assert.Equal("node_test3", (string?)layout.Variables["access_nodes"]!["intranet"]!["nodes"]![2]);
    }

    [Fact]
    public void EveryProblemIsReportedAtOnce()
    {
        var r = Seed();
        r["access_nodes"]!["intranet"]!["vips"] = new JsonArray("172.17.0.13", "10.9.9.9");
        r["storage_nodes"]![0]!["nodes"]!.AsArray().Add("ghost");
        var p = Problems(r);
        Assert.Contains(p, x => x.Contains("2 VIPs for 3 access nodes", StringComparison.Ordinal));
        Assert.Contains(p, x => x.Contains("10.9.9.9 is not inside qs_network", StringComparison.Ordinal));
        Assert.Contains(p, x => x.Contains("'ghost' is not in the inventory", StringComparison.Ordinal));
        Assert.Contains(p, x => x.Contains("8 bricks", StringComparison.Ordinal) && x.Contains("not a multiple of the set size 3", StringComparison.Ordinal));
    }

    [Fact]
    public void BrickCountMustBeWholeSets()
    {
        var r = Seed();
        r["storage_nodes"]![0]!["brick_count"] = 1;
        r["storage_nodes"]![0]!["nodes"] = new JsonArray("node_test4", "node_test5");
        Assert.Contains(Problems(r), x => x.Contains("2 bricks", StringComparison.Ordinal) && x.Contains("set size 3", StringComparison.Ordinal));
    }

    [Fact]
    public void SetsMustBeOnDistinctNodes()
    {
        // 2 bricks per node on 2 nodes with replica 2 is fine (sets are slot-major); replica 4 over 2 nodes is not.
        var r = Seed();
        r["storage_nodes"]![0]!["replica"] = 4;
        r["storage_nodes"]![0]!["nodes"] = new JsonArray("node_test4", "node_test5");
        Assert.Contains(Problems(r), x => x.Contains("two bricks on node", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(2, 1, "n = k + m ≥ 3")]
    [InlineData(3, 0, "m ≥ 1")]
    [InlineData(4, 2, "2m < n")]
    public void DisperseRules(int n, int m, string expected)
    {
        var r = Seed();
        var s = r["storage_nodes"]![0]!.AsObject();
        s["vol_type"] = "disperse";
        s["disperse"] = n;
        s["ec_type"] = m;
        s["brick_count"] = 1;
        s["nodes"] = new JsonArray([.. Ids.Take(n).Select(i => (JsonNode?)i)]);
        Assert.Contains(Problems(r), x => x.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void DisperseEcTypeIsRedundancy()
    {
        var r = Seed();
        var s = r["storage_nodes"]![0]!.AsObject();
        s["vol_type"] = "disperse";
        s["ec_type"] = 1;
        s["brick_count"] = 1;
        var (layout, problems) = LayoutValidator.Validate(r, Inventory());
        Assert.Empty(problems);
        Assert.Equal(3, (long)layout!.Variables["storage_nodes"]![0]!["disperse"]!);
        Assert.Equal(1, (long)layout.Variables["storage_nodes"]![0]!["redundancy"]!);
    }

    [Fact]
    public void DuplicateVipsAndNodesAreRefused()
    {
        var r = Seed();
        r["access_nodes"]!["intranet"]!["vips"] = new JsonArray("172.17.0.13", "172.17.0.13", "172.17.0.15");
        r["access_nodes"]!["intranet"]!["bridge_vip"] = "172.17.0.15";
        r["storage_nodes"]![0]!["nodes"] = new JsonArray("node_test4", "node_test4", "node_test5");
        var p = Problems(r);
        Assert.Equal(2, p.Count(x => x.Contains("every VIP must be different", StringComparison.Ordinal)));
        Assert.Contains(p, x => x.Contains("'node_test4' is listed twice", StringComparison.Ordinal));
    }

    [Fact]
    public void BridgeVipMustBeInsideQsNetwork()
    {
        var r = Seed();
        r["access_nodes"]!["intranet"]!["bridge_vip"] = "192.168.1.1";
        Assert.Contains(Problems(r), x => x.StartsWith("access_nodes.intranet.bridge_vip: 192.168.1.1 is not inside", StringComparison.Ordinal));
    }

    [Fact]
    public void FactsCheckInterfaceAndDevices()
    {
        var facts = new NodeFacts(new HashSet<string> { "lo", "ens3" }, new Dictionary<string, DeviceFact>
        {
            ["sdc"] = new("sdc", "ext4", null, "/data", false),
        });
        var p = Problems(Seed(), Inventory(facts));
        Assert.Contains(p, x => x.Contains("has no interface eth0", StringComparison.Ordinal));
        Assert.Contains(p, x => x.Contains("holds a ext4 filesystem", StringComparison.Ordinal));
        Assert.Contains(p, x => x.Contains("has no block device /dev/sdd", StringComparison.Ordinal));
    }

    [Fact]
    public void OurOwnBrickIsUsable() =>
        Assert.Null(new DeviceFact("sdc", "xfs", "cairn-sdc", "/srv/cairn/bricks/vol0/sdc", false).WhyUnusable("vol0"));

    [Fact]
    public void MissingSectionsAreNamed()
    {
        var p = Problems(new JsonObject { ["action"] = "ConfigQingStor" });
        Assert.Contains(p, x => x.StartsWith("qs_conf: required", StringComparison.Ordinal));
        Assert.Contains(p, x => x.StartsWith("access_nodes: required", StringComparison.Ordinal));
        Assert.Contains(p, x => x.StartsWith("storage_nodes: required", StringComparison.Ordinal));
    }

    [Fact]
    public void FormDottedKeysAndJsonValuesBuildTheSameRequest()
    {
        var o = new JsonObject();
        InstallerRequest.Merge(o, InstallerRequest.ParseForm(
            "action=ConfigQingStor&qs_conf.qs_network.1=172.17.0.0%2F24&qs_conf.with_iaas=false&storage_nodes=%5B%7B%22replica%22%3A3%7D%5D&access_nodes.intranet.nodes=a&access_nodes.intranet.nodes=b"));
        Assert.Equal("ConfigQingStor", (string?)o["action"]);
        Assert.Equal("172.17.0.0/24", (string?)o["qs_conf"]!["qs_network"]![0]);
        Assert.False(Field.Bool(o["qs_conf"]!["with_iaas"]));
        Assert.Equal(3, Field.Number(o["storage_nodes"]![0]!["replica"]));
        Assert.Equal(2, o["access_nodes"]!["intranet"]!["nodes"]!.AsArray().Count);
    }

    [Fact]
    public void MalformedJsonIsABadRequest()
    {
        var e = Assert.Throws<InstallerException>(() => InstallerRequest.ParseJson("{\"action\": "));
        Assert.Equal(RetCodes.BadRequest, e.RetCode);
        Assert.Contains("not valid JSON", e.Message, StringComparison.Ordinal);
        Assert.Equal(RetCodes.BadRequest, Assert.Throws<InstallerException>(() => InstallerRequest.ParseJson("[1]")).RetCode);
    }

    [Fact]
    public void NodeIdsAsStringsOrObjects()
    {
        Assert.Equal("n1", Field.NodeId(JsonValue.Create("n1")));
        Assert.Equal("n1", Field.NodeId(new JsonObject { ["node_id"] = "n1" }));
    }
}
