using System.Buffers.Binary;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;
using Cairn.Iscsi.Tests.Scsi;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>A volume grown under live sessions, seen over the wire by two initiators (two I_T nexuses).</summary>
public sealed class CapacityChangeTests
{
    private const string Iqn = "iqn.2026-11.io.cairn:grow";

    [Fact]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA2000", Justification = "Disposed by await using.")]
    public async Task Growing_the_volume_reports_capacity_data_has_changed_once_per_nexus_then_the_new_size()
    {
        using var device = new MemoryBlockDevice(1024 * 512);
        using var unit = new ScsiBlockDevice(device);
        await using var host = await TargetHost.StartAsync(addDefaultTarget: false);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = Iqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = unit },
            Initiators = [TargetHost.Initiator1, TargetHost.Initiator2],
        });
        await using var a = await RawInitiator.ConnectAsync(host.Port);
        await using var b = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await a.LoginAsync(TargetHost.Initiator1, Iqn)).Class);
        Assert.Equal(0, (await b.LoginAsync(TargetHost.Initiator2, Iqn)).Class);
        foreach (var i in new[] { a, b })
        {
            await ClearPowerOnAsync(i);
            Assert.Equal(1024, await CapacityAsync(i));
        }

        device.Resize(4096 * 512);

        foreach (var i in new[] { a, b })
        {
            // SAM-5 §5.14: INQUIRY and REPORT LUNS answer without reporting (or clearing) the unit attention.
            Assert.Equal(ScsiStatus.Good, (await RunAsync(i, Cdb.Inquiry(), 255)).Status);
            Assert.Equal(ScsiStatus.Good, (await RunAsync(i, Cdb.ReportLuns(), 1024)).Status);

            var tur = await RunAsync(i, Cdb.TestUnitReady(), 0);
            Assert.Equal(ScsiStatus.CheckCondition, tur.Status);
            Assert.Equal((SenseKey.UnitAttention, Asc.CapacityDataChanged), Sense(tur.Sense));

            // Once per nexus: the next command runs.
            Assert.Equal(ScsiStatus.Good, (await RunAsync(i, Cdb.TestUnitReady(), 0)).Status);
            Assert.Equal(4096, await CapacityAsync(i));
        }
        Assert.Equal(4096L, await Capacity16Async(a));
    }

    [Fact]
    public async Task Libiscsi_sees_capacity_data_has_changed_after_a_resize_then_the_new_size()
    {
        using var device = new MemoryBlockDevice(1024 * 512);
        using var unit = new ScsiBlockDevice(device);
        await using var host = await TargetHost.StartAsync(addDefaultTarget: false);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = Iqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = unit },
            Initiators = [TargetHost.Initiator1],
        });
        using var s = Cairn.TestSupport.LibiscsiSession.Open($"127.0.0.1:{host.Port}", TargetHost.Initiator1, Iqn, 0);
        // POWER ON, if libiscsi's login (which runs TEST UNIT READY until no unit attention is left) did not consume it;
        // bounded, so a target that never turns ready fails here instead of spinning.
        for (int n = 0; n < 8 && s.TestUnitReady().Status != 0; n++) { }
        Assert.Equal((0, 0, 0, 0), s.TestUnitReady());
        Assert.Equal((1024L, 512), s.ReadCapacity16());

        device.Resize(3000 * 512);
        Assert.Equal((2, 6, 0x2A, 0x09), s.TestUnitReady());
        Assert.Equal((0, 0, 0, 0), s.TestUnitReady());
        Assert.Equal((3000L, 512), s.ReadCapacity16());
    }

    private static async Task<(byte Status, byte[] Sense, byte[] Data)> RunAsync(RawInitiator i, byte[] cdb, uint edtl)
    {
        uint itt = await i.CommandAsync(cdb, edtl, read: edtl > 0, write: false);
        return await i.ResponseWithSenseAsync(itt);
    }

    private static async Task ClearPowerOnAsync(RawInitiator i)
    {
        var first = await RunAsync(i, Cdb.TestUnitReady(), 0);
        Assert.Equal(ScsiStatus.CheckCondition, first.Status);
        Assert.Equal(SenseKey.UnitAttention, Sense(first.Sense).Key);
        Assert.Equal(0x29, Sense(first.Sense).Asc.Code);
        Assert.Equal(ScsiStatus.Good, (await RunAsync(i, Cdb.TestUnitReady(), 0)).Status);
    }

    private static async Task<long> CapacityAsync(RawInitiator i)
    {
        var r = await RunAsync(i, Cdb.ReadCapacity10(), 8);
        Assert.Equal(ScsiStatus.Good, r.Status);
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(r.Data.AsSpan(4)));
        return BinaryPrimitives.ReadUInt32BigEndian(r.Data) + 1L;
    }

    private static async Task<long> Capacity16Async(RawInitiator i)
    {
        var r = await RunAsync(i, Cdb.ReadCapacity16(), 32);
        Assert.Equal(ScsiStatus.Good, r.Status);
        return BinaryPrimitives.ReadInt64BigEndian(r.Data) + 1;
    }

    private static (byte Key, Asc Asc) Sense(byte[] sense) => (ScsiSense.KeyOf(sense), ScsiSense.AscOf(sense));
}
