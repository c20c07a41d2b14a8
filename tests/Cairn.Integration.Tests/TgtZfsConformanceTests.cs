using System.Diagnostics;
using System.Globalization;
using Cairn.Engine.Tests.Zfs;
using Cairn.Integration.Tests.Support;
using Cairn.TestSupport;

namespace Cairn.Integration.Tests;

/// <summary>
/// libiscsi's whole iscsi-test-cu suite against a ZFS volume that a real `cairn serve --exporter tgt` exports
/// through a tgtd of the test's own (file-backed zpool on zfs-fuse, 256 MiB volume, one target with two initiators;
/// Cairn's LUN 0 is tgt's LUN 1). The SCSI device is tgt's, so Cairn cannot do better than tgt itself; what it must
/// not do is make it worse. The baseline is measured in the same run: the same tgtd serving a plain 256 MiB file on a
/// target made with tgtadm alone. The Cairn-on-ZFS run must fail no test that passes on the plain file and print no
/// more [SKIPPED] lines (measured 2026-12, tgt 1.0.85: both 230 tests, the same 9 failed, 87 [SKIPPED] lines).
/// </summary>
public sealed class TgtZfsConformanceTests(TgtdFixture tgtd, ZfsPoolFixture zfs) : IClassFixture<TgtdFixture>, IClassFixture<ZfsPoolFixture>
{
    private const string PlainTarget = "iqn.2026-01.io.cairn:tgt-plain";
    private const string Target = "iqn.2026-01.io.cairn:tgt-zfs";
    private const string Init1 = "iqn.2026-01.io.cairn:init1";
    private const string Init2 = "iqn.2026-01.io.cairn:init2";

    [Fact]
    public async Task Iscsi_test_cu_on_a_zfs_volume_through_tgt_fails_nothing_that_plain_tgtd_passes()
    {
        ExternalTool.Require("iscsi-test-cu", "libiscsi-bin");
        try
        {
            var baseline = await PlainTgtdRunAsync();
            Assert.True(baseline.Total >= 230, $"only {baseline.Total} tests ran on plain tgtd ({baseline.OutputPath})");

            await using var server = await CairnProcess.StartAsync(
                extraArgs: ["--exporter", "tgt", "--tgt-control-port", tgtd.ControlPort.ToString(CultureInfo.InvariantCulture)],
                env: new Dictionary<string, string> { ["CAIRN_POOLS"] = zfs.Pool + ":zfs" });
            (await server.CliAsync("volume", "create", zfs.Pool + "/lun", "--size", "256M")).Ok();
            (await server.CliAsync("target", "create", Target, "--volume", zfs.Pool + "/lun", "--initiator", Init1, "--initiator", Init2)).Ok();
            await WaitForLunAsync(Target, server);

            var run = await ConformanceRun.RunAsync($"iscsi://{tgtd.Portal}/{Target}/1", Init1, Init2, "cairn-conformance-tgt-zfs.txt");
            var worse = run.FailedTests.Except(baseline.FailedTests).Order(StringComparer.Ordinal).ToList();
            Assert.True(run.Total >= baseline.Total, $"{run.Total} tests ran through Cairn, {baseline.Total} on plain tgtd ({run.OutputPath})");
            Assert.True(worse.Count == 0,
                $"failed through Cairn on ZFS but passed on plain tgtd: {string.Join(", ", worse)}; output in {run.OutputPath}, baseline in {baseline.OutputPath}");
            Assert.True(run.SkippedLines <= baseline.SkippedLines,
                $"{run.SkippedLines} [SKIPPED] lines through Cairn on ZFS, {baseline.SkippedLines} on plain tgtd; output in {run.OutputPath}, baseline in {baseline.OutputPath}");
        }
        finally
        {
            // Nothing may hold a file in the zpool when its fixture destroys it.
            await tgtd.DeleteAllTargetsAsync();
        }
    }

    /// <summary>The same tgtd serving a plain sparse file on a target of its own (tid 1: Cairn leaves tids below
    /// 1,000,000 alone), made with tgtadm alone, as an administrator would.</summary>
    private async Task<ConformanceRun> PlainTgtdRunAsync()
    {
        var file = Path.Combine(TempDir.Create("cairn-tgt-plain"), "lun.img");
        using (var f = File.Create(file)) f.SetLength(256L << 20);
        (await tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "new", "--tid", "1", "-T", PlainTarget)).ThrowIfFailed();
        (await tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", "1", "--lun", "1", "-b", file)).ThrowIfFailed();
        foreach (var init in new[] { Init1, Init2 })
            (await tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "bind", "--tid", "1", "-Q", init)).ThrowIfFailed();
        var run = await ConformanceRun.RunAsync($"iscsi://{tgtd.Portal}/{PlainTarget}/1", Init1, Init2, "cairn-conformance-tgt-plain.txt");
        (await tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "delete", "--force", "--tid", "1")).ThrowIfFailed();
        return run;
    }

    /// <summary>The export queue applies a committed target a moment later: waits until tgtd shows its LUN 1.</summary>
    private async Task WaitForLunAsync(string iqn, CairnProcess server)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var show = await tgtd.TgtAdmAsync("--lld", "iscsi", "--mode", "target", "--op", "show");
            var block = show.StdOut.Split("Target ").FirstOrDefault(b => b.Contains(": " + iqn + "\n", StringComparison.Ordinal));
            if (block is not null && block.Contains("LUN: 1", StringComparison.Ordinal)) return;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"tgtd did not show {iqn} with LUN 1 within 60 s:\n{show.StdOut}\nserver log:\n{server.Log}");
            await Task.Delay(100);
        }
    }
}
