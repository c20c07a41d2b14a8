using System.Globalization;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>/metrics of a real <c>cairn serve</c> follows what a real initiator (libiscsi) did, byte for byte.</summary>
public sealed class IscsiMetricsTests
{
    private const string Init = "iqn.2026-01.org.example:metered";
    private const string Iqn = "iqn.2026-01.org.example:meter";
    private const string Other = "iqn.2026-01.org.example:idle";
    private const string T = "target=\"" + Iqn + "\"";

    [Fact]
    public async Task Sessions_commands_bytes_and_latency_per_target_and_in_total_move_by_what_the_initiator_did()
    {
        await using var s = await CairnProcess.StartAsync();
        (await s.CliAsync("volume", "create", "t/meter", "--size", "16M", "--parents")).Ok();
        (await s.CliAsync("volume", "create", "t/idle", "--size", "16M")).Ok();
        (await s.CliAsync("target", "create", Iqn, "--volume", "t/meter", "--initiator", Init)).Ok();
        (await s.CliAsync("target", "create", Other, "--volume", "t/idle", "--initiator", Init)).Ok();
        using var http = new HttpClient { BaseAddress = new Uri(s.Url), Timeout = TimeSpan.FromSeconds(30) };
        var ct = TestContext.Current.CancellationToken;

        var m0 = await ScrapeAsync(http, ct);
        Assert.Equal(0, m0["cairn_iscsi_target_sessions{" + T + "}"]);
        Assert.Equal(0, m0["cairn_iscsi_target_commands_total{" + T + "}"]);
        Assert.Equal(0, m0["cairn_iscsi_sessions"]);

        var session = await Task.Run(() => LibiscsiSession.Open($"127.0.0.1:{s.IscsiPort}", Init, Iqn, 0), ct);
        try
        {
            var m1 = await ScrapeAsync(http, ct);
            Assert.Equal(1, m1["cairn_iscsi_target_sessions{" + T + "}"]);
            Assert.Equal(0, m1[$"cairn_iscsi_target_sessions{{target=\"{Other}\"}}"]);
            Assert.Equal(1, m1["cairn_iscsi_sessions"]);
            Assert.True(m1["cairn_iscsi_target_commands_total{" + T + "}"] >= 1, "libiscsi's login ends with TEST UNIT READY");

            // 256 KiB in four WRITE(10)s of 64 KiB (LibiscsiSession writes 64 KiB per command).
            var data = new byte[256 * 1024];
            Random.Shared.NextBytes(data);
            await Task.Run(() => session.Write(0, data), ct);
            var m2 = await ScrapeAsync(http, ct);
            Assert.Equal(data.Length, Delta(m1, m2, "cairn_iscsi_target_written_bytes_total{" + T + "}"));
            Assert.Equal(0, Delta(m1, m2, "cairn_iscsi_target_read_bytes_total{" + T + "}"));
            Assert.Equal(4, Delta(m1, m2, "cairn_iscsi_target_commands_total{" + T + "}"));
            Assert.Equal(4, Delta(m1, m2, "cairn_iscsi_target_command_duration_seconds_count{" + T + "}"));
            Assert.Equal(4, Delta(m1, m2, $"cairn_iscsi_target_command_duration_seconds_bucket{{{T},le=\"+Inf\"}}"));

            // 128 KiB back in two READ(10)s: the same bytes, counted as data-in.
            var back = await Task.Run(() => session.Read(0, 128 * 1024), ct);
            Assert.Equal(data.AsSpan(0, back.Length).ToArray(), back);
            var m3 = await ScrapeAsync(http, ct);
            Assert.Equal(back.Length, Delta(m2, m3, "cairn_iscsi_target_read_bytes_total{" + T + "}"));
            Assert.Equal(0, Delta(m2, m3, "cairn_iscsi_target_written_bytes_total{" + T + "}"));
            Assert.Equal(2, Delta(m2, m3, "cairn_iscsi_target_commands_total{" + T + "}"));

            // One busy target: the totals are its figures; the idle target counted nothing.
            foreach (var f in new[] { "commands_total", "read_bytes_total", "written_bytes_total", "command_duration_seconds_count" })
            {
                Assert.Equal(m3[$"cairn_iscsi_target_{f}{{{T}}}"], m3[$"cairn_iscsi_{f}"]);
                Assert.Equal(0, m3[$"cairn_iscsi_target_{f}{{target=\"{Other}\"}}"]);
            }
            Assert.True(m3["cairn_iscsi_command_duration_seconds_sum"] > 0);
            Assert.True(m3["cairn_iscsi_target_command_duration_seconds_bucket{" + T + ",le=\"0.0001\"}"]
                <= m3["cairn_iscsi_target_command_duration_seconds_bucket{" + T + ",le=\"10\"}"], "buckets are cumulative");
        }
        finally
        {
            await Task.Run(session.Dispose, ct).WaitAsync(TimeSpan.FromSeconds(LibiscsiSession.CallTimeoutSeconds * 2), ct);
        }

        // The session is gone once the server has processed the logout; the counters stay.
        var deadline = DateTime.UtcNow.AddMinutes(1);
        Dictionary<string, double> m4;
        while ((m4 = await ScrapeAsync(http, ct))["cairn_iscsi_sessions"] != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the session did not end after logout");
            await Task.Delay(50, ct);
        }
        Assert.Equal(0, m4["cairn_iscsi_target_sessions{" + T + "}"]);
        var commands = m4["cairn_iscsi_commands_total"];
        Assert.True(commands >= 7);

        // A removed target's series go away; the totals keep what it counted (they never go down).
        (await s.CliAsync("target", "delete", Iqn)).Ok();
        var m5 = await ScrapeAsync(http, ct);
        Assert.DoesNotContain(m5.Keys, k => k.Contains(T, StringComparison.Ordinal));
        Assert.Equal(commands, m5["cairn_iscsi_commands_total"]);
        Assert.Equal(m4["cairn_iscsi_written_bytes_total"], m5["cairn_iscsi_written_bytes_total"]);
        await s.StopAsync();
    }

    private static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string key) => after[key] - before[key];

    /// <summary>GET /metrics as <c>name{labels}</c> → value; every line checked against the text format as it is read.</summary>
    private static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient http, CancellationToken ct)
    {
        using var resp = await http.GetAsync("/metrics", ct);
        resp.EnsureSuccessStatusCode();
        Assert.StartsWith("text/plain", resp.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var text = await resp.Content.ReadAsStringAsync(ct);
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var typed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                Assert.True(typed.Add(line.Split(' ')[2]), "one TYPE line per family: " + line);
                continue;
            }
            if (line.StartsWith('#')) continue;
            int space = line.LastIndexOf(' ');
            Assert.True(space > 0, "sample line: " + line);
            Assert.True(samples.TryAdd(line[..space], double.Parse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture)), "one sample per series: " + line);
        }
        return samples;
    }
}
