using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class UnitAttentionTests
{
    [Fact]
    public void A_new_nexus_sees_power_on_reset_once_and_inquiry_does_not_consume_it()
    {
        using var h = new ScsiHarness(clearAttentions: false);
        h.Run(Cdb.Inquiry()).AssertGood();
        h.Run(Cdb.ReportLuns()).AssertGood();
        h.Run(Cdb.Read10(0, 1)).AssertCheck(SenseKey.UnitAttention, Asc.PowerOnResetOccurred);
        h.Run(Cdb.Read10(0, 1)).AssertGood();
    }

    [Fact]
    public void Request_sense_returns_and_clears_a_pending_unit_attention()
    {
        using var h = new ScsiHarness(clearAttentions: false);
        var r = h.Run(Cdb.RequestSense());
        r.AssertGood();
        Assert.Equal(0x70, r.Data[0]);
        Assert.Equal(SenseKey.UnitAttention, r.Data[2]);
        Assert.Equal(0x29, r.Data[12]);
        var again = h.Run(Cdb.RequestSense(desc: true));
        Assert.Equal(0x72, again.Data[0]);
        Assert.Equal(SenseKey.NoSense, again.Data[1]);
        h.Run(Cdb.TestUnitReady()).AssertGood();
    }

    [Fact]
    public void Growing_the_device_raises_capacity_data_has_changed_on_every_nexus()
    {
        using var h = new ScsiHarness(blocks: 1024);
        h.Device.Resize(2048 * 512);
        h.Run(Cdb.TestUnitReady()).AssertCheck(SenseKey.UnitAttention, Asc.CapacityDataChanged);
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertCheck(SenseKey.UnitAttention, Asc.CapacityDataChanged);
        h.Run(Cdb.Read10(2000, 1)).AssertGood();
    }

    [Fact]
    public void A_nexus_first_seen_after_a_resize_gets_power_on_only()
    {
        using var h = new ScsiHarness(blocks: 1024, clearAttentions: false);
        h.ClearAttentions(ScsiHarness.A);
        h.Device.Resize(2048 * 512);
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertCheck(SenseKey.UnitAttention, Asc.PowerOnResetOccurred);
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertGood();
        h.Run(Cdb.TestUnitReady()).AssertCheck(SenseKey.UnitAttention, Asc.CapacityDataChanged);
        h.Run(Cdb.TestUnitReady()).AssertGood();
    }

    [Fact]
    public void Lun_inventory_change_is_reported_until_report_luns_runs()
    {
        using var h = new ScsiHarness();
        h.Unit.LunInventoryChanged();
        h.Run(Cdb.ReportLuns()).AssertGood();
        h.Run(Cdb.TestUnitReady()).AssertGood();
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertCheck(SenseKey.UnitAttention, Asc.ReportedLunsDataChanged);
    }

    [Fact]
    public void Logical_unit_reset_raises_a_reset_unit_attention_on_every_nexus()
    {
        using var h = new ScsiHarness();
        h.Unit.Reset(ScsiHarness.A, targetReset: false);
        h.Run(Cdb.TestUnitReady()).AssertCheck(SenseKey.UnitAttention, new Asc(0x29, 0x03));
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertCheck(SenseKey.UnitAttention, new Asc(0x29, 0x03));
        h.Run(Cdb.TestUnitReady()).AssertGood();
    }

    [Fact]
    public void Removable_medium_can_be_ejected_only_when_no_nexus_prevents_it()
    {
        using var h = new ScsiHarness(options: new ScsiBlockDeviceOptions { Removable = true });
        Assert.Equal(0x80, h.Run(Cdb.Inquiry()).Data[1]);
        byte[] prevent = [0x1E, 0, 0, 0, 1, 0], allow = [0x1E, 0, 0, 0, 0, 0];
        byte[] eject = [0x1B, 0, 0, 0, 0x02, 0], load = [0x1B, 0, 0, 0, 0x03, 0];
        h.Run(prevent, nexus: ScsiHarness.B).AssertGood();
        h.Run(eject).AssertCheck(SenseKey.IllegalRequest, Asc.MediumRemovalPrevented);
        h.Run(allow, nexus: ScsiHarness.B).AssertGood();
        h.Run(eject).AssertGood();
        Assert.Equal(SenseKey.NotReady, h.Run(Cdb.TestUnitReady()).Key);
        Assert.Equal(0x3A, h.Run(Cdb.Read10(0, 1)).Asc.Code);
        h.Run(load).AssertGood();
        h.Run(Cdb.TestUnitReady()).AssertGood();
    }
}
