using System.Text.RegularExpressions;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;
using Cairn.Iscsi.Tests.Scsi;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>iscsi-perf against the target (explicit: a measurement, not a check). Prints IOPS and MB/s.</summary>
public partial class PerfTests
{
    /// <summary><paramref name="rawUnit"/>: the RAM test unit (transport cost only) instead of ScsiBlockDevice over MemoryBlockDevice.</summary>
    [Theory(Explicit = true)]
    [InlineData(8, 32, false)]
    [InlineData(256, 32, false)]
    [InlineData(8, 32, true)]
    [InlineData(256, 32, true)]
    public async Task Iscsi_perf_sequential_reads(int blocksPerRequest, int inFlight, bool rawUnit)
    {
        await using var host = await TargetHost.StartAsync(addDefaultTarget: false);
        IScsiLogicalUnit unit = rawUnit ? new TestLogicalUnit(512 * 1024) : new ScsiBlockDevice(new MemoryBlockDevice(256L * 1024 * 1024));
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = TargetHost.TargetIqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = unit },
            Initiators = ["*"],
        });
        var (_, output) = await ExternalPeer.RunAsync("iscsi-perf", 30, "-i", TargetHost.Initiator1, "-m", inFlight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-b", blocksPerRequest.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", "5", host.Url());
        TestContext.Current.SendDiagnosticMessage(output);
        Console.WriteLine(output);
        Assert.Matches(IopsLine(), output);
    }

    [GeneratedRegex(@"IOPS|iops|MB/s", RegexOptions.IgnoreCase)]
    private static partial Regex IopsLine();
}
