using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class ModeTests
{
    private static List<byte> Pages(byte[] data, int header)
    {
        var pages = new List<byte>();
        for (int at = header; at + 1 < data.Length; at += data[at + 1] + 2) pages.Add((byte)(data[at] & 0x3F));
        return pages;
    }

    [Fact]
    public void Mode_sense_return_all_pages_has_caching_control_and_informational_exceptions()
    {
        using var h = new ScsiHarness();
        var d = h.Run(Cdb.ModeSense6(0x3F)).Data;
        Assert.Equal(d.Length - 1, d[0]);
        Assert.Equal(8, d[3]);
        Assert.Equal(0x10, d[2] & 0x10); // DPOFUA
        Assert.Equal([0x08, 0x0A, 0x1C], Pages(d, 4 + 8));
        var dbd = h.Run(Cdb.ModeSense6(0x3F, dbd: true)).Data;
        Assert.Equal(0, dbd[3]);
        var ten = h.Run(Cdb.ModeSense10(0x3F, llbaa: true)).Data;
        Assert.Equal(16, ten[7]);
        Assert.Equal([0x08, 0x0A, 0x1C], Pages(ten, 8 + 16));
    }

    [Fact]
    public void Mode_sense_allocation_length_truncates_without_overflow()
    {
        using var h = new ScsiHarness();
        var r = h.Run(Cdb.ModeSense6(0x3F, alloc: 4));
        r.AssertGood();
        Assert.Equal(4, r.Result.DataInLength);
        Assert.Equal(4, r.Result.TransferLength);
    }

    [Fact]
    public void Saved_page_control_is_saving_parameters_not_supported_and_unknown_pages_are_invalid()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.ModeSense6(0x08, pc: 3)).AssertCheck(SenseKey.IllegalRequest, Asc.SavingParametersNotSupported);
        h.Run(Cdb.ModeSense6(0x19)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Changeable_values_show_wce_d_sense_and_swp()
    {
        using var h = new ScsiHarness();
        var caching = h.Run(Cdb.ModeSense6(0x08, pc: 1, dbd: true)).Data;
        Assert.Equal(0x04, caching[4 + 2]);
        var control = h.Run(Cdb.ModeSense6(0x0A, pc: 1, dbd: true)).Data;
        Assert.Equal(0x04, control[4 + 2]);
        Assert.Equal(0x08, control[4 + 4]);
    }

    private static byte[] SelectControl(ScsiHarness h, Func<byte[], byte[]> edit)
    {
        var cur = h.Run(Cdb.ModeSense6(0x0A, dbd: true)).Data;
        var page = cur.AsSpan(4).ToArray();
        var list = new byte[4 + page.Length];
        edit(page).CopyTo(list, 4);
        return list;
    }

    [Fact]
    public void Setting_d_sense_switches_sense_data_to_descriptor_format_and_other_nexuses_see_mode_parameters_changed()
    {
        using var h = new ScsiHarness();
        var list = SelectControl(h, p => { p[2] |= 0x04; return p; });
        h.Run(Cdb.ModeSelect6((byte)list.Length), list).AssertGood();
        var r = h.Run(Cdb.Read16(-1, 1));
        Assert.Equal(0x72, r.Sense[0]);
        r.AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        h.Run(Cdb.TestUnitReady(), nexus: ScsiHarness.B).AssertCheck(SenseKey.UnitAttention, Asc.ModeParametersChanged);
        h.Run(Cdb.TestUnitReady()).AssertGood();
    }

    [Fact]
    public void Setting_swp_write_protects_the_unit()
    {
        using var h = new ScsiHarness();
        var list = SelectControl(h, p => { p[4] |= 0x08; return p; });
        h.Run(Cdb.ModeSelect6((byte)list.Length), list).AssertGood();
        h.Run(Cdb.Write10(0, 1), new byte[512]).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        h.Run(Cdb.Read10(0, 1)).AssertGood();
    }

    [Fact]
    public void Changing_a_bit_that_is_not_changeable_is_invalid_field_in_parameter_list()
    {
        using var h = new ScsiHarness();
        var list = SelectControl(h, p => { p[5] ^= 0x40; return p; }); // TAS
        var r = h.Run(Cdb.ModeSelect6((byte)list.Length), list);
        r.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInParameterList);
        Assert.Equal((true, false, 4 + 5, 6), r.FieldPointer);
    }

    [Fact]
    public void Clearing_wce_makes_every_write_durable()
    {
        using var h = new ScsiHarness();
        var cur = h.Run(Cdb.ModeSense6(0x08, dbd: true)).Data;
        var list = new byte[4 + 20];
        cur.AsSpan(4, 20).CopyTo(list.AsSpan(4));
        list[4 + 2] &= 0xFB;
        h.Run(Cdb.ModeSelect6((byte)list.Length), list).AssertGood();
        h.Run(Cdb.Write10(0, 1), new byte[512]).AssertGood();
        Assert.Equal(1, h.Device.FuaWrites);
    }
}
