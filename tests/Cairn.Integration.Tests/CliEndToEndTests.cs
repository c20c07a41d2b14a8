using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;

namespace Cairn.Integration.Tests;

/// <summary>The real CLI against a real server process.</summary>
public sealed partial class CliEndToEndTests(SharedServer shared) : IClassFixture<SharedServer>
{
    // One server for the class: every test works under names of its own (tank/, p/, img/, x/, j/).
    private readonly CairnProcess _server = shared.Server;

    [Fact]
    public async Task Volume_lifecycle_through_the_cli()
    {
        await _server.CliAsync("volume", "create", "tank/vm1", "--size", "1T", "--parents").ContinueWith(t => t.Result.Ok(), TaskScheduler.Default);
        var show = (await _server.CliAsync("volume", "show", "tank/vm1", "--json")).Json();
        Assert.Equal(1L << 40, show["size"]!.GetValue<long>());
        Assert.True(show["used"]!.GetValue<long>() < 1 << 20, "a new 1 TiB volume takes no space");

        (await _server.CliAsync("snapshot", "create", "tank/vm1@golden")).Ok();
        (await _server.CliAsync("clone", "tank/vm1@golden", "tank/vm2")).Ok();
        var list = (await _server.CliAsync("volume", "list", "--json")).Json().AsArray();
        Assert.Contains(list, v => v!["name"]!.GetValue<string>() == "tank/vm2" && v["origin"]!.GetValue<string>() == "tank/vm1@golden");

        var table = (await _server.CliAsync("volume", "list")).Ok().Stdout;
        Assert.Contains("NAME", table);
        Assert.Contains("tank/vm2", table);

        (await _server.CliAsync("volume", "resize", "tank/vm2", "--size", "2T")).Ok();
        Assert.Equal(2L << 40, (await _server.CliAsync("volume", "show", "tank/vm2", "--json")).Json()["size"]!.GetValue<long>());

        var snaps = (await _server.CliAsync("snapshot", "list", "tank/vm1", "--json")).Json().AsArray();
        Assert.Single(snaps);
        Assert.Equal("tank/vm2", snaps[0]!["clones"]![0]!.GetValue<string>());

        // ZFS rules: dependents are named.
        var refused = await _server.CliAsync("snapshot", "destroy", "tank/vm1@golden");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("tank/vm2", refused.Stderr);
        var refused2 = await _server.CliAsync("volume", "destroy", "tank/vm1");
        Assert.NotEqual(0, refused2.ExitCode);
        Assert.Contains("golden", refused2.Stderr);

        (await _server.CliAsync("volume", "destroy", "tank/vm2")).Ok();
        (await _server.CliAsync("volume", "destroy", "tank/vm1", "--recursive")).Ok();
        var after = (await _server.CliAsync("volume", "list", "--json")).Json().AsArray();
        Assert.DoesNotContain(after, v => v!["type"]!.GetValue<string>() == "volume" && v["name"]!.GetValue<string>().StartsWith("tank/", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bad name")]
    [InlineData("tank//x")]
    [InlineData("tank/../x")]
    [InlineData("tank/x\u0001")]
    [InlineData("")]
    [InlineData("tank/x@snap")]
    public async Task Invalid_names_are_refused_with_one_line_and_change_nothing(string name)
    {
        var before = (await _server.CliAsync("volume", "list", "--json")).Json().ToJsonString();
        var r = await _server.CliAsync("volume", "create", name, "--size", "1G");
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error: ", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
        Assert.Equal(before, (await _server.CliAsync("volume", "list", "--json")).Json().ToJsonString());
    }

    [Fact]
    public async Task Overlong_names_bad_sizes_duplicates_and_unknown_volumes_are_clear_errors()
    {
        var longName = "p/" + new string('a', 300);
        Assert.Contains("longer", (await _server.CliAsync("volume", "create", longName, "--size", "1G")).Stderr);
        foreach (var size in new[] { "ten", "-1", "1.5", "0", "100" })
        {
            var r = await _server.CliAsync("volume", "create", "p/v", "--size", size);
            Assert.NotEqual(0, r.ExitCode);
            Assert.StartsWith("error: ", r.Stderr);
        }
        (await _server.CliAsync("volume", "create", "p/v", "--size", "1G")).Ok();
        var dup = await _server.CliAsync("volume", "create", "p/v", "--size", "1G");
        Assert.NotEqual(0, dup.ExitCode);
        Assert.Contains("exists", dup.Stderr);
        var missing = await _server.CliAsync("volume", "show", "p/nothere");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("does not exist", missing.Stderr);
        var deep = await _server.CliAsync("volume", "create", "p/a/b/c", "--size", "1G");
        Assert.NotEqual(0, deep.ExitCode);
        Assert.Contains("p/a", deep.Stderr);
        var shrink = await _server.CliAsync("volume", "resize", "p/v", "--size", "512M");
        Assert.NotEqual(0, shrink.ExitCode);
    }

    [Fact]
    public async Task Unreachable_server_is_a_one_line_error()
    {
        var r = await CairnProcess.RunCliAsync(["volume", "list", "--server", $"http://127.0.0.1:{CairnProcess.FreePort()}"]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("cannot reach", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task Import_then_export_round_trips_and_keeps_holes()
    {
        var dir = TempDir.Create("cairn-img");
        var src = Path.Combine(dir, "src.img");
        var rnd = new Random(42);
        const long size = 64L << 20;
        using (var fs = new FileStream(src, FileMode.Create))
        {
            fs.SetLength(size);
            var block = new byte[1 << 20];
            // Data in every other MiB, a hole in between; a partially zero MiB too.
            for (long off = 0; off < size; off += 2 << 20)
            {
                rnd.NextBytes(block);
                if (off == 8 << 20) Array.Clear(block, 4096, block.Length - 8192);
                fs.Position = off;
                fs.Write(block);
            }
        }
        var imp = (await _server.CliAsync("volume", "import", "img/disk", src, "--parents", "--json")).Json();
        Assert.Equal(size, imp["image_size"]!.GetValue<long>());
        Assert.True(imp["written"]!.GetValue<long>() <= size / 2, "zero blocks are not stored");

        var dst = Path.Combine(dir, "dst.img");
        (await _server.CliAsync("volume", "export", "img/disk", dst)).Ok();
        Assert.Equal(await File.ReadAllBytesAsync(src), await File.ReadAllBytesAsync(dst));
        Assert.True(AllocatedBytes(dst) < size * 6 / 10, $"exported file is sparse (allocated {AllocatedBytes(dst)} of {size})");

        // A snapshot exports too, and keeps its content after the volume changes.
        (await _server.CliAsync("snapshot", "create", "img/disk@s1")).Ok();
        var other = Path.Combine(dir, "other.img");
        await File.WriteAllBytesAsync(other, Enumerable.Repeat((byte)7, 1 << 20).ToArray());
        (await _server.CliAsync("volume", "import", "img/disk", other, "--force")).Ok();
        var snapOut = Path.Combine(dir, "snap.img");
        (await _server.CliAsync("volume", "export", "img/disk@s1", snapOut)).Ok();
        Assert.Equal(await File.ReadAllBytesAsync(src), await File.ReadAllBytesAsync(snapOut));
    }

    [Fact]
    public async Task Importing_a_missing_file_or_into_a_smaller_volume_fails_cleanly()
    {
        var r = await _server.CliAsync("volume", "import", "x/y", "/nonexistent/file.img");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("does not exist", r.Stderr);
        (await _server.CliAsync("volume", "create", "x/small", "--size", "1M")).Ok();
        var dir = TempDir.Create("cairn-img");
        var big = Path.Combine(dir, "big.img");
        await File.WriteAllBytesAsync(big, new byte[4 << 20]);
        var r2 = await _server.CliAsync("volume", "import", "x/small", big, "--force");
        Assert.NotEqual(0, r2.ExitCode);
        Assert.Contains("smaller", r2.Stderr);
    }

    [Fact]
    public async Task Batch_job_is_listed_shown_and_watched()
    {
        (await _server.CliAsync("volume", "create", "j/base", "--size", "1G", "--parents")).Ok();
        (await _server.CliAsync("snapshot", "create", "j/base@s")).Ok();
        using var http = new HttpClient();
        var ops = new JsonArray();
        for (int i = 0; i < 50; i++) ops.Add(new JsonObject { ["op"] = "clone", ["source"] = "j/base@s", ["target"] = $"j/c{i}" });
        ops.Add(new JsonObject { ["op"] = "clone", ["source"] = "j/base@nope", ["target"] = "j/bad" });
        using var batch = new StringContent(new JsonObject { ["ops"] = ops }.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        var resp = await http.PostAsync(_server.Url + "/cairn/v1/batch", batch);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, resp.StatusCode);
        var id = JsonNode.Parse(await resp.Content.ReadAsStringAsync())!["id"]!.GetValue<string>();

        var watch = await _server.CliAsync("job", "watch", id);
        Assert.NotEqual(0, watch.ExitCode); // one item failed, so the job failed…
        Assert.Contains("j/bad", watch.Stderr);
        var job = (await _server.CliAsync("job", "show", id, "--json")).Json();
        Assert.Equal("failed", job["state"]!.GetValue<string>());
        var items = job["items"]!.AsArray();
        Assert.Equal(51, items.Count);
        Assert.Equal(50, items.Count(i => i!["state"]!.GetValue<string>() == "done")); // …but the others were done.
        Assert.Contains(id, (await _server.CliAsync("job", "list")).Ok().Stdout);
        Assert.Equal(51, (await _server.CliAsync("volume", "list", "j", "--json")).Json().AsArray().Count(v => v!["type"]!.GetValue<string>() == "volume"));
    }

    [Fact]
    public async Task Health_metrics_and_openapi_are_served()
    {
        using var http = new HttpClient();
        Assert.Equal("ok\n", await http.GetStringAsync(_server.Url + "/healthz"));
        var metrics = await http.GetStringAsync(_server.Url + "/metrics");
        Assert.Contains("cairn_pool_free_bytes", metrics);
        Assert.Contains("cairn_http_request_duration_seconds_bucket", metrics);
        var openapi = JsonNode.Parse(await http.GetStringAsync(_server.Url + "/openapi/v1.json"))!;
        Assert.NotNull(openapi["paths"]!["/cairn/v1/volumes"]);
    }

    private static long AllocatedBytes(string path)
    {
        var parts = Cairn.TestSupport.Commands.Run("stat", "-c", "%b %B", path).ThrowIfFailed().StdOut.Trim().Split(' ');
        return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}
