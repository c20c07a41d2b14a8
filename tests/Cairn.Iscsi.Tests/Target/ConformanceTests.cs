using System.Text.RegularExpressions;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;
using Cairn.Iscsi.Tests.Scsi;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>libiscsi's conformance suite (iscsi-test-cu) against the real target and SCSI device.</summary>
public partial class ConformanceTests
{
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The caller owns the returned host; the in-memory device holds nothing to free.")]
    private static async Task<(TargetHost Host, string Url)> StartAsync()
    {
        var host = await TargetHost.StartAsync(addDefaultTarget: false);
        var device = new MemoryBlockDevice(64L * 1024 * 1024);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = TargetHost.TargetIqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = new ScsiBlockDevice(device, new ScsiBlockDeviceOptions { ReportLuns = () => [0UL] }) },
            Initiators = [TargetHost.Initiator1, TargetHost.Initiator2],
        });
        return (host, host.Url());
    }

    /// <summary>Runs a test family; returns the summary counts and the output.</summary>
    internal static async Task<(int Run, int Failed, int Skipped, string Output)> RunSuiteAsync(string tests, int timeoutSeconds, params string[] extra)
    {
        var (host, url) = await StartAsync();
        await using (host)
        {
            string[] args = ["-d", "-S", "-t", tests, "-i", TargetHost.Initiator1, "-I", TargetHost.Initiator2, .. extra, url, url];
            var (_, output) = await ExternalPeer.RunAsync("iscsi-test-cu", timeoutSeconds, args);
            var m = SummaryTests().Match(output);
            Assert.True(m.Success, output);
            int skipped = Regex.Count(output, @"\[SKIPPED\]");
            return (int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture),
                int.Parse(m.Groups[4].Value, System.Globalization.CultureInfo.InvariantCulture), skipped, output);
        }
    }

    /// <summary>Runs the tests named by CAIRN_ISCSI_TEST_CU (e.g. <c>iSCSI.iSCSIdatasn</c>) verbosely, for debugging.</summary>
    [Fact(Explicit = true)]
    public async Task Selected_iscsi_test_cu_tests()
    {
        var (run, failed, skipped, output) = await RunSuiteAsync(Environment.GetEnvironmentVariable("CAIRN_ISCSI_TEST_CU") ?? "iSCSI", 1800, "-V");
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "cairn-iscsi-test-cu-selected.txt"), output, TestContext.Current.CancellationToken);
        Assert.True(failed == 0, $"run {run} failed {failed} skipped {skipped}\n" + output);
    }

    [Fact]
    public async Task Iscsi_family_of_iscsi_test_cu_passes()
    {
        var (run, failed, _, output) = await RunSuiteAsync("iSCSI", 240);
        Assert.True(run > 0, output);
        Assert.True(failed == 0, output);
    }

    [Fact(Explicit = true)]
    public async Task Whole_iscsi_test_cu_suite()
    {
        var (run, failed, skipped, output) = await RunSuiteAsync("ALL", 1800);
        await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), "cairn-iscsi-test-cu.txt"), output, TestContext.Current.CancellationToken);
        Assert.True(failed == 0, $"run {run} failed {failed} skipped {skipped}\n" + output);
    }

    [GeneratedRegex(@"tests\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")]
    private static partial Regex SummaryTests();
}
