using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class ReadWriteTests
{
    [Fact]
    public void Data_written_with_each_write_size_reads_back_with_each_read_size()
    {
        using var h = new ScsiHarness();
        var data = ScsiHarness.Pattern(4, 3);
        h.Run(Cdb.Write6(10, 4), data).AssertGood();
        Assert.Equal(data, h.Run(Cdb.Read6(10, 4), allocation: 2048).Data);
        h.Run(Cdb.Rw10(0x2A, 20, 4), data).AssertGood();
        Assert.Equal(data, h.Run(Cdb.Read10(20, 4), allocation: 2048).Data);
        h.Run(Cdb.Rw12(0xAA, 30, 4), data).AssertGood();
        Assert.Equal(data, h.Run(Cdb.Rw12(0xA8, 30, 4), allocation: 2048).Data);
        h.Run(Cdb.Write16(40, 4), data).AssertGood();
        Assert.Equal(data, h.ReadBlocks(40, 4));
    }

    [Fact]
    public void Read_beyond_the_end_is_lba_out_of_range()
    {
        using var h = new ScsiHarness(blocks: 100);
        h.Run(Cdb.Read10(99, 2)).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        h.Run(Cdb.Read16(-1, 1)).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        h.Run(Cdb.Read10(101, 0)).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        h.Run(Cdb.Write16(100, 1), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.LbaOutOfRange);
        h.Run(Cdb.Read10(99, 1)).AssertGood();
    }

    [Fact]
    public void Zero_block_transfers_succeed_and_move_nothing()
    {
        using var h = new ScsiHarness();
        var r = h.Run(Cdb.Read10(0, 0));
        r.AssertGood();
        Assert.Equal(0, r.Result.DataInLength);
        Assert.Equal(0, r.Result.TransferLength);
        h.Run(Cdb.Write10(0, 0), []).AssertGood();
    }

    [Fact]
    public void Read_into_a_smaller_buffer_fills_it_and_reports_the_full_transfer_length()
    {
        using var h = new ScsiHarness();
        h.WriteBlocks(0, ScsiHarness.Pattern(2, 9));
        var r = h.Run(Cdb.Read10(0, 2), allocation: 700);
        r.AssertGood();
        Assert.Equal(700, r.Result.DataInLength);
        Assert.Equal(1024, r.Result.TransferLength);
        Assert.Equal(ScsiHarness.Pattern(2, 9).AsSpan(0, 700).ToArray(), r.Data);
    }

    [Fact]
    public void Write_with_short_data_out_writes_only_the_whole_blocks_received()
    {
        using var h = new ScsiHarness();
        var data = ScsiHarness.Pattern(1, 1);
        var r = h.Run(Cdb.Write10(5, 2), data);
        r.AssertGood();
        Assert.Equal(1024, r.Result.TransferLength);
        Assert.Equal(data, h.ReadBlocks(5, 1));
        Assert.Equal(new byte[512], h.ReadBlocks(6, 1));
    }

    [Fact]
    public void Fua_write_is_durable_on_return()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.Write10(0, 1, flags: 0x08), new byte[512]).AssertGood();
        Assert.Equal(1, h.Device.FuaWrites);
        h.Run(Cdb.Write10(0, 1, flags: 0x10), new byte[512]).AssertGood(); // DPO accepted
        Assert.Equal(1, h.Device.FuaWrites);
    }

    [Fact]
    public void Synchronize_cache_flushes_the_device()
    {
        using var h = new ScsiHarness();
        h.Run(Cdb.SynchronizeCache10()).AssertGood();
        Assert.Equal(1, h.Device.Flushes);
    }

    [Fact]
    public void Protection_fields_are_invalid_without_protection_information()
    {
        using var h = new ScsiHarness();
        var r = h.Run(Cdb.Read10(0, 1, flags: 0x20));
        r.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        Assert.Equal((true, true, 1, 7), r.FieldPointer);
        h.Run(Cdb.Write16(0, 1, flags: 0x40), new byte[512]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Reserved_bits_are_rejected_with_a_field_pointer_to_the_bit()
    {
        using var h = new ScsiHarness();
        var cdb = Cdb.Read10(0, 1);
        cdb[6] = 0x80; // reserved above GROUP NUMBER
        var r = h.Run(cdb);
        r.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        Assert.Equal((true, true, 6, 7), r.FieldPointer);
    }

    [Fact]
    public void Unknown_opcode_is_invalid_command_operation_code()
    {
        using var h = new ScsiHarness();
        h.Run([0xC7, 0, 0, 0, 0, 0]).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidCommandOperationCode);
    }

    [Fact]
    public void Writes_to_a_read_only_lun_are_data_protect_write_protected_and_reads_work()
    {
        using var h = new ScsiHarness(readOnly: true);
        h.Run(Cdb.Write10(0, 1), new byte[512]).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        h.Run(Cdb.WriteSame16(0, 8, unmap: true), new byte[512]).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        h.Run(Cdb.WriteSame10(0, 1, unmap: true), [], edtl: 0).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        var (c, d) = Cdb.Unmap((0, 8));
        h.Run(c, d).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        h.Run(Cdb.CompareAndWrite(0, 1), new byte[1024]).AssertCheck(SenseKey.DataProtect, Asc.WriteProtected);
        h.Run(Cdb.Read10(0, 1)).AssertGood();
        var ms = h.Run(Cdb.ModeSense6(0x3F));
        Assert.Equal(0x80, ms.Data[2] & 0x80); // WP in the device-specific parameter
    }

    [Fact]
    public void Transfer_longer_than_the_maximum_is_an_invalid_field()
    {
        using var h = new ScsiHarness(options: new ScsiBlockDeviceOptions { MaxTransferBlocks = 8 });
        var r = h.Run(Cdb.Read10(0, 9));
        r.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        Assert.Equal((true, true, 7, -1), r.FieldPointer);
    }

    [Fact]
    public void Data_out_length_follows_the_cdb()
    {
        using var h = new ScsiHarness();
        Assert.Equal(4096, h.Unit.DataOutLength(Cdb.Write10(0, 8)));
        Assert.Equal(256 * 512, h.Unit.DataOutLength(Cdb.Write6(0, 0)));
        Assert.Equal(1024, h.Unit.DataOutLength(Cdb.CompareAndWrite(0, 1)));
        Assert.Equal(0, h.Unit.DataOutLength(Cdb.WriteSame16(0, 8, ndob: true)));
        Assert.Equal(512, h.Unit.DataOutLength(Cdb.WriteSame10(0, 8)));
        Assert.Equal(0, h.Unit.DataOutLength(Cdb.Read10(0, 8)));
    }
}
