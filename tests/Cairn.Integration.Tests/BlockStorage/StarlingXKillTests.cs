using System.Text.Json.Nodes;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;
using static Cairn.Integration.Tests.BlockStorage.StarlingXToolTests;

namespace Cairn.Integration.Tests.BlockStorage;

/// <summary>
/// SIGKILL of a real <c>cairn serve</c> right after an export and an import were accepted, restarted on the same data
/// directory: the job finishes or fails cleanly (never a volume left <c>exporting</c>/<c>importing</c>), the backup
/// directory holds no temp file and no partial archive under a final name, no hidden import dataset is left, and the
/// volume's data is whole.
/// </summary>
public sealed class StarlingXKillTests
{
    [Fact]
    public async Task Sigkill_mid_export_and_mid_import_leaves_no_stuck_volume_no_partial_archive_and_no_temp_file()
    {
        RequireTools();
        var dir = TempDir.Create("cairn-sx-kill");
        var data = Path.Combine(dir, "data");
        var backups = OpenStackCloud.BackupDirOf(data);
        var server = await OpenStackCloud.StartServerAsync(data);
        try
        {
            var user = await OpenStackUser.CreateAsync(server, dir, "sxkill", "admin");
            var env = user.Environment();
            var vol = (await RunAsync("/usr/bin/python3", env, server, Client, "create", "sx-kill")).Trim();
            var (raw, original) = await OriginalArchiveAsync(dir, backups, vol, 64, server, sparseTar: true);
            await RunAsync("/usr/bin/python3", env, server, Client, "import", vol, original);

            async Task<JsonNode> KillAndWaitAsync(JsonObject action, string transitional)
            {
                using (var http = new HttpClient { BaseAddress = new Uri(server.Url) })
                {
                    var (token, project) = await user.TokenAsync(http);
                    using var req = new HttpRequestMessage(HttpMethod.Post, $"/v3/{project}/volumes/{vol}/action") { Content = new StringContent(action.ToJsonString(), System.Text.Encoding.UTF8, "application/json") };
                    req.Headers.Add("X-Auth-Token", token);
                    using var resp = await http.SendAsync(req, TestContext.Current.CancellationToken);
                    Assert.Equal(System.Net.HttpStatusCode.Accepted, resp.StatusCode);
                }
                server.Kill();
                await server.DisposeAsync();
                server = await OpenStackCloud.StartServerAsync(data, server);
                using var http2 = new HttpClient { BaseAddress = new Uri(server.Url) };
                var (t2, p2) = await user.TokenAsync(http2);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
                cts.CancelAfter(TimeSpan.FromMinutes(3));
                while (true)
                {
                    using var show = new HttpRequestMessage(HttpMethod.Get, $"/v3/{p2}/volumes/{vol}");
                    show.Headers.Add("X-Auth-Token", t2);
                    show.Headers.Add("wrs-header", "true");
                    using var r = await http2.SendAsync(show, cts.Token);
                    var v = JsonNode.Parse(await r.Content.ReadAsStringAsync(cts.Token))!["volume"]!;
                    if (v["status"]!.GetValue<string>() != transitional) return v;
                    await Task.Delay(100, cts.Token);
                }
            }

            var exported = await KillAndWaitAsync(new JsonObject { ["wrs-volume:os-volume_export"] = null }, "exporting");
            Assert.Equal("available", exported["status"]!.GetValue<string>());
            Assert.Matches("^Export (completed|failed) at ", exported["wrs-volume:backup_status"]!.GetValue<string>());
            Assert.Empty(Directory.GetFiles(backups, ".*"));
            // Every archive under a final name is whole.
            foreach (var a in Directory.GetFiles(backups, $"volume-{vol}-*.tgz").Where(f => Path.GetFileName(f) != original))
                await ShAsync($"gzip -t {Q(a)} && tar -xzf {Q(a)} -O volume-{vol}.vol | cmp - {Q(raw)}", server);

            await Task.Delay(1100, TestContext.Current.CancellationToken); // the next export gets a name of its own second
            var imported = await KillAndWaitAsync(new JsonObject { ["wrs-volume:os-volume_import"] = new JsonObject { ["file_name"] = original } }, "importing");
            Assert.Equal("available", imported["status"]!.GetValue<string>());
            Assert.Matches("^Import (completed|failed) at ", imported["wrs-volume:backup_status"]!.GetValue<string>());
            var list = (await server.LocalCliAsync("volume", "list", OpenStackCloud.Pool)).Ok().Stdout;
            // Exactly one dataset of the volume: its own (after a swap, the import's dataset), no leftover of an attempt.
            Assert.Single(list.Split('\n'), l => l.Contains(vol, StringComparison.Ordinal));
            // The data is whole: exported again and compared.
            var before = Directory.GetFiles(backups, $"volume-{vol}-*.tgz").ToHashSet();
            await RunAsync("/usr/bin/python3", env, server, Client, "export", vol);
            var last = Assert.Single(Directory.GetFiles(backups, $"volume-{vol}-*.tgz"), f => !before.Contains(f));
            await ShAsync($"tar -xzf {Q(last)} -O volume-{vol}.vol | cmp - {Q(raw)}", server);
            Assert.Empty(Directory.GetFiles(backups, ".*"));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
