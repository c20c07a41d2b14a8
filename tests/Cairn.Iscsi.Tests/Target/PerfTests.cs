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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "The in-memory device holds nothing to free; the host owns the unit.")]
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

/// <summary>Memory figures the issue asks to report (explicit: a measurement).</summary>
public class MemoryFootprintTests
{
    [Fact(Explicit = true)]
    public async Task Memory_per_idle_session_and_per_thousand_targets()
    {
        await using var host = await TargetHost.StartAsync();
        long before = GC.GetTotalMemory(true);
        for (int n = 0; n < 1000; n++)
            host.Registry.AddOrUpdate(new IscsiTarget { Iqn = $"iqn.2026-11.io.cairn:mem-{n:D4}", Initiators = [TargetHost.Initiator1], Luns = new Dictionary<int, IScsiLogicalUnit>() });
        long perThousandTargets = GC.GetTotalMemory(true) - before;

        host.Registry.AddOrUpdate(new IscsiTarget { Iqn = "iqn.2026-11.io.cairn:idle", Initiators = ["*"], Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = new TestLogicalUnit(8) } });
        const int sessions = 200;
        var clients = new List<RawInitiator>();
        before = GC.GetTotalMemory(true);
        for (int n = 0; n < sessions; n++)
        {
            var i = await RawInitiator.ConnectAsync(host.Port);
            Assert.Equal(0, (await i.LoginAsync($"iqn.2026-11.io.cairn:idle{n}", "iqn.2026-11.io.cairn:idle")).Class);
            clients.Add(i);
        }
        long perSession = (GC.GetTotalMemory(true) - before) / sessions;
        var msg = $"1,000 targets: {perThousandTargets / 1024} KiB managed; idle session: {perSession / 1024.0:F1} KiB managed (both sides of the loopback in one process)";
        Console.WriteLine(msg);
        TestContext.Current.SendDiagnosticMessage(msg);
        foreach (var c in clients) await c.DisposeAsync();
    }
}
