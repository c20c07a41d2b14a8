using System.Text.RegularExpressions;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;
using Cairn.Iscsi.Tests.Target;
using Cairn.TestSupport;

namespace Cairn.Iscsi.Tests.Scsi;

/// <summary>
/// libiscsi's iscsi-test-cu against ScsiBlockDevice behind the real transport, with the unit options under test.
/// Explicit: a full run takes about a minute. Output goes to $TMP/cairn-scsi-conformance-*.txt.
/// </summary>
public sealed partial class ScsiConformanceTests
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The in-memory device holds nothing to free; the host owns the unit.")]
    private static async Task<(int Run, int Failed, List<string> Skipped, string Output)> RunAsync(string tests, ScsiBlockDeviceOptions options, long bytes = 64L * 1024 * 1024, bool readOnly = false)
    {
        ExternalTool.Require("iscsi-test-cu", "libiscsi-bin");
        await using var host = await TargetHost.StartAsync(addDefaultTarget: false);
        var unit = new ScsiBlockDevice(new MemoryBlockDevice(bytes, readOnly: readOnly), options);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = TargetHost.TargetIqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = unit },
            Initiators = [TargetHost.Initiator1, TargetHost.Initiator2],
        });
        var url = host.Url();
        var (_, output) = await ExternalPeer.RunAsync("iscsi-test-cu", 1800,
            "-d", "-S", "-t", tests, "-i", TargetHost.Initiator1, "-I", TargetHost.Initiator2, url, url);
        var m = Summary().Match(output);
        Assert.True(m.Success, output);
        // A skipped test logs one or two "[SKIPPED]" lines; count tests, not lines.
        var skipped = SkippedTest().Matches(output).Select(x => x.Groups[1].Value + ": " + x.Groups[2].Value.Trim()).ToList();
        return (int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture), skipped, output);
    }

    private static async Task Report(string name, (int Run, int Failed, List<string> Skipped, string Output) r)
    {
        var text = $"run {r.Run} failed {r.Failed} skipped-tests {r.Skipped.Count}\n{string.Join('\n', r.Skipped)}\n\n{r.Output}";
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), $"cairn-scsi-conformance-{name}.txt"), text, TestContext.Current.CancellationToken);
    }

    [Fact(Explicit = true)]
    public async Task Fixed_disk_lun_passes_the_whole_suite()
    {
        var r = await RunAsync("ALL", new ScsiBlockDeviceOptions { ReportLuns = () => [0UL] });
        await Report("fixed", r);
        Assert.True(r.Failed == 0, $"failed {r.Failed}\n{r.Output}");
    }

    /// <summary>
    /// The run recorded in docs/iscsi.md: the whole suite with a removable medium (what <c>cairn serve</c> presents with
    /// <c>IscsiMedium = removable</c>), so the PreventAllow and StartStopUnit tests run instead of being skipped.
    /// </summary>
    [Fact(Explicit = true)]
    public async Task Removable_lun_passes_the_whole_suite()
    {
        var r = await RunAsync("ALL", new ScsiBlockDeviceOptions { ReportLuns = () => [0UL], Removable = true });
        await Report("removable-all", r);
        Assert.True(r.Failed == 0, $"failed {r.Failed}\n{r.Output}");
    }

    /// <summary>A read-only LUN (a snapshot): ReadOnly.ReadOnlySBC, skipped on a writable LUN, runs here.</summary>
    [Fact(Explicit = true)]
    public async Task Read_only_lun_passes_the_read_only_family()
    {
        var r = await RunAsync("SCSI.ReadOnly", new ScsiBlockDeviceOptions { ReportLuns = () => [0UL] }, readOnly: true);
        await Report("readonly", r);
        Assert.True(r.Run > 0, r.Output);
        Assert.True(r.Failed == 0, $"failed {r.Failed}\n{r.Output}");
        Assert.Empty(r.Skipped);
    }

    /// <summary>
    /// The removable-medium families (PreventAllow, StartStopUnit, NoMedia), both paths on the same LUN.
    /// PreventAllow.2ITNexuses sends START STOP UNIT on the second path after ColdReset and LUNReset ran on the first:
    /// it passes only when the TARGET COLD RESET ended the second path's session (RFC 7143 §11.5.1), so that the LUN
    /// reset's unit attention (29/03, which SAM-5 puts on every I_T nexus and MultipathIO.Reset checks) never reaches it.
    /// </summary>
    [Fact(Explicit = true)]
    public async Task Removable_lun_passes_the_medium_families()
    {
        foreach (var tests in (string[])["SCSI.PreventAllow", "SCSI.StartStopUnit", "SCSI.NoMedia"])
        {
            var r = await RunAsync(tests, new ScsiBlockDeviceOptions { ReportLuns = () => [0UL], Removable = true });
            await Report("removable-" + tests.Split('.')[1], r);
            Assert.True(r.Run > 0, r.Output);
            Assert.True(r.Failed == 0, $"failed {r.Failed}\n{r.Output}");
            Assert.Empty(r.Skipped);
        }
    }

    [GeneratedRegex(@"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")]
    private static partial Regex Summary();

    [GeneratedRegex(@"Test: (\S+) \.\.\.\s+\[SKIPPED\]([^\n]*)")]
    private static partial Regex SkippedTest();
}
