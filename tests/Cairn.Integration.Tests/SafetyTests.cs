using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// What must not happen by accident: an import over a volume's data without being asked, or under initiators that are
/// using it; two writers on one volume; a batch that calls a missing name done.
/// </summary>
public sealed class SafetyTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private readonly CairnProcess _server = shared.Server;
    private const string Initiator = "iqn.2026-01.org.example:safety-host";

    private static string Image(string dir, string name, int size, Func<int, byte> fill)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, Enumerable.Range(0, size).Select(fill).ToArray());
        return path;
    }

    private async Task<byte[]> Export(string dir, string volume)
    {
        var file = Path.Combine(dir, Guid.NewGuid().ToString("N") + ".img");
        (await _server.CliAsync("volume", "export", volume, file)).Ok();
        return await File.ReadAllBytesAsync(file);
    }

    [Fact]
    public async Task An_import_replaces_an_existing_volume_only_with_force_and_then_reads_exactly_as_the_image()
    {
        var dir = TempDir.Create("cairn-safety");
        const int size = 1 << 20;
        var first = Image(dir, "first.img", size, i => (byte)(1 + i % 251));
        // Zero in its first half: those blocks are not sent, yet must read as zeros afterwards, not as the old data.
        var second = Image(dir, "second.img", size, i => i < size / 2 ? (byte)0 : (byte)9);
        (await _server.CliAsync("volume", "import", "tank/safe/img", first, "--parents")).Ok();

        var refused = await _server.CliAsync("volume", "import", "tank/safe/img", second);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("--force", refused.Stderr);
        Assert.Equal(await File.ReadAllBytesAsync(first), await Export(dir, "tank/safe/img"));

        (await _server.CliAsync("volume", "import", "tank/safe/img", second, "--force")).Ok();
        Assert.Equal(await File.ReadAllBytesAsync(second), await Export(dir, "tank/safe/img"));
    }

    [Fact]
    public async Task An_import_is_refused_while_an_initiator_has_a_session_on_the_volume()
    {
        var dir = TempDir.Create("cairn-safety");
        var image = Image(dir, "a.img", 1 << 20, i => (byte)(i % 7));
        const string iqn = "iqn.2026-01.org.example:safety-live";
        (await _server.CliAsync("volume", "import", "tank/safe/live", image, "--parents")).Ok();
        (await _server.CliAsync("target", "create", iqn, "--volume", "tank/safe/live", "--initiator", Initiator)).Ok();
        using (LibiscsiSession.Open($"127.0.0.1:{_server.IscsiPort}", Initiator, iqn, 0))
        {
            var r = await _server.CliAsync("volume", "import", "tank/safe/live", image, "--force");
            Assert.NotEqual(0, r.ExitCode);
            Assert.Contains("live session", r.Stderr);
            Assert.Contains(iqn, r.Stderr);
        }
        // Once the initiator logged out, the operator may replace it.
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while ((await _server.CliAsync("target", "show", iqn, "--json")).Json()["sessions"]!.GetValue<int>() > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the session did not end after logout");
            await Task.Delay(50);
        }
        (await _server.CliAsync("volume", "import", "tank/safe/live", image, "--force")).Ok();
    }

    [Fact]
    public async Task A_volume_is_exported_read_write_once_unless_shared_is_asked_for()
    {
        (await _server.CliAsync("volume", "create", "tank/safe/one", "--size", "16M", "--parents")).Ok();
        (await _server.CliAsync("snapshot", "create", "tank/safe/one@s")).Ok();
        (await _server.CliAsync("target", "create", "iqn.2026-01.org.example:safety-a", "--volume", "tank/safe/one", "--initiator", Initiator)).Ok();

        var second = await _server.CliAsync("target", "create", "iqn.2026-01.org.example:safety-b", "--volume", "tank/safe/one", "--initiator", Initiator);
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("iqn.2026-01.org.example:safety-a", second.Stderr);
        var twoLuns = await _server.CliAsync("target", "create", "iqn.2026-01.org.example:safety-c", "--volume", "tank/safe/one@s",
            "--volume", "tank/safe/one@s", "--initiator", Initiator);
        twoLuns.Ok(); // a snapshot is read-only: any number of LUNs and targets may show it
        var list = (await _server.CliAsync("target", "list", "--json")).Json().AsArray();
        Assert.DoesNotContain(list, t => t!["iqn"]!.GetValue<string>() == "iqn.2026-01.org.example:safety-b");

        (await _server.CliAsync("volume", "create", "tank/safe/two", "--size", "16M")).Ok();
        var sameTwice = await _server.CliAsync("target", "create", "iqn.2026-01.org.example:safety-d", "--volume", "tank/safe/two",
            "--volume", "tank/safe/two", "--initiator", Initiator);
        Assert.NotEqual(0, sameTwice.ExitCode);
        Assert.Contains("LUNs 0 and 1", sameTwice.Stderr);

        (await _server.CliAsync("target", "create", "iqn.2026-01.org.example:safety-b", "--volume", "tank/safe/one", "--initiator", Initiator, "--shared")).Ok();
    }

    [Fact]
    public async Task A_batch_reports_each_item_and_a_missing_name_as_missing()
    {
        (await _server.CliAsync("volume", "create", "tank/safe/b", "--size", "16M", "--parents")).Ok();
        (await _server.CliAsync("snapshot", "create", "tank/safe/b@s")).Ok();
        var ops = new JsonArray
        {
            new JsonObject { ["op"] = "clone", ["source"] = "tank/safe/b@s", ["target"] = "tank/safe/bc" },
            new JsonObject { ["op"] = "destroy", ["name"] = "tank/safe/ghost" },
            new JsonObject { ["op"] = "destroy_snapshot", ["name"] = "tank/safe/b@ghost" },
        };
        using var http = new HttpClient();
        using var body = new StringContent(new JsonObject { ["ops"] = ops }.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        var resp = await http.PostAsync(_server.Url + "/cairn/v1/batch", body);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, resp.StatusCode);
        var id = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();
        Assert.NotEqual(0, (await _server.CliAsync("job", "watch", id)).ExitCode);

        var job = (await _server.CliAsync("job", "show", id, "--json")).Json();
        Assert.Equal("failed", job["state"]!.GetValue<string>());
        Assert.Equal("finished", job["phase"]!.GetValue<string>());
        var items = job["items"]!.AsArray().ToDictionary(i => i!["key"]!.GetValue<string>(), i => i!);
        Assert.Equal("done", items["tank/safe/bc"]["state"]!.GetValue<string>());
        Assert.Equal("failed", items["tank/safe/ghost"]["state"]!.GetValue<string>());
        Assert.Contains("does not exist", items["tank/safe/ghost"]["error"]!.GetValue<string>());
        Assert.Equal("failed", items["tank/safe/b@ghost"]["state"]!.GetValue<string>());
        Assert.Contains("does not exist", items["tank/safe/b@ghost"]["error"]!.GetValue<string>());
    }
}
