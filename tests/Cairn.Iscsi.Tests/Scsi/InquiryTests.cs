using System.Buffers.Binary;
using System.Text;
using Cairn.Iscsi.Scsi;

namespace Cairn.Iscsi.Tests.Scsi;

public sealed class InquiryTests
{
    [Fact]
    public void Standard_inquiry_is_a_direct_access_spc4_device_claiming_sbc3()
    {
        using var h = new ScsiHarness();
        var d = h.Run(Cdb.Inquiry()).Data;
        Assert.Equal(0, d[0]);
        Assert.Equal(6, d[2]);
        Assert.Equal(2, d[3] & 0x0F);
        Assert.Equal(d.Length - 5, d[4]);
        Assert.StartsWith("CAIRN", Encoding.ASCII.GetString(d, 8, 8));
        var versions = Enumerable.Range(0, 8).Select(i => BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(58 + 2 * i))).ToList();
        Assert.Contains((ushort)0x04C0, versions);
        Assert.Contains((ushort)0x0460, versions);
    }

    [Fact]
    public void Inquiry_allocation_length_clips_the_data_and_the_transfer_length()
    {
        using var h = new ScsiHarness();
        var r = h.Run(Cdb.Inquiry(alloc: 36));
        Assert.Equal(36, r.Result.DataInLength);
        Assert.Equal(36, r.Result.TransferLength);
        h.Run(Cdb.Inquiry(evpd: false, page: 0x80)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        h.Run(Cdb.Inquiry(evpd: true, page: 0x99)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Supported_vpd_pages_are_each_readable()
    {
        using var h = new ScsiHarness();
        var d = h.Run(Cdb.Inquiry(true, 0x00)).Data;
        var pages = d.AsSpan(4, d[3]).ToArray();
        Assert.Equal([0x00, 0x80, 0x83, 0x8F, 0xB0, 0xB1, 0xB2], pages);
        Assert.Equal(pages.Order().ToArray(), pages);
        // Every page code: served exactly when listed (a listed page that fails, or a served page that is not listed,
        // tells an initiator something false).
        for (int p = 0; p < 256; p++)
        {
            var v = h.Run(Cdb.Inquiry(true, (byte)p, 1024));
            if (!pages.Contains((byte)p))
            {
                v.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
                continue;
            }
            v.AssertGood();
            Assert.Equal(p, v.Data[1]);
            Assert.Equal(v.Data.Length - 4, BinaryPrimitives.ReadUInt16BigEndian(v.Data.AsSpan(2)));
        }
    }

    [Fact]
    public void Third_party_copy_bit_extended_copy_and_the_third_party_copy_page_agree()
    {
        using var h = new ScsiHarness();
        bool threePc = (h.Run(Cdb.Inquiry()).Data[5] & 0x08) != 0;
        var vpd0 = h.Run(Cdb.Inquiry(true, 0x00)).Data;
        bool page8F = vpd0.AsSpan(4, vpd0[3]).Contains((byte)0x8F);
        var xcopy = h.Run(Cdb.ReportSupportedOpcodes(options: 2, op: 0x83, sa: 0x00)).Data;
        bool lid1 = (xcopy[1] & 0x07) == 0x03;
        Assert.True(threePc);
        Assert.Equal(threePc, page8F);
        Assert.Equal(threePc, lid1);
    }

    [Fact]
    public void Third_party_copy_page_describes_the_extended_copy_the_unit_serves()
    {
        using var h = new ScsiHarness();
        var d = h.Run(Cdb.Inquiry(true, 0x8F, 1024)).Data;
        Assert.Equal(0x8F, d[1]);
        Assert.Equal(d.Length - 4, BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(2)));

        var descriptors = new Dictionary<int, byte[]>();
        for (int at = 4; at < d.Length;)
        {
            Assert.True(d.Length - at >= 4, "truncated descriptor header");
            int type = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(at));
            int len = BinaryPrimitives.ReadUInt16BigEndian(d.AsSpan(at + 2));
            Assert.Equal(0, len % 4); // SPC-4: third-party copy descriptor lengths are multiples of four
            Assert.True(at + 4 + len <= d.Length, $"descriptor {type:x4} runs past the page");
            Assert.True(descriptors.TryAdd(type, d.AsSpan(at + 4, len).ToArray()), $"descriptor {type:x4} twice");
            at += 4 + len;
        }

        // Supported Commands (0001h): exactly the copy commands REPORT SUPPORTED OPERATION CODES lists as supported.
        var cmds = descriptors[0x0001];
        int listLength = cmds[0];
        Assert.Equal((listLength + 1 + 3) & ~3, cmds.Length);
        var listed = new List<(byte Op, byte Sa)>();
        for (int at = 1; at < 1 + listLength;)
        {
            byte op = cmds[at];
            int n = cmds[at + 1];
            Assert.True(n > 0);
            for (int i = 0; i < n; i++) listed.Add((op, cmds[at + 2 + i]));
            at += 2 + n;
        }
        Assert.Equal([(0x83, 0x00), (0x84, 0x00), (0x84, 0x03)], listed);
        foreach (var (op, sa) in listed)
            Assert.Equal(0x03, h.Run(Cdb.ReportSupportedOpcodes(options: 2, op: op, sa: sa)).Data[1] & 0x07);
        foreach (byte sa in new byte[] { 0x01, 0x04, 0x05, 0x07, 0x08 }) // RECEIVE COPY RESULTS service actions not listed
            Assert.NotEqual(0x03, h.Run(Cdb.ReportSupportedOpcodes(options: 2, op: 0x84, sa: sa)).Data[1] & 0x07);

        // Parameter Data (0004h) and General Copy Operations (8001h): the limits RECEIVE COPY RESULTS reports.
        var op3 = h.Run([0x84, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        op3.AssertGood();
        var o = op3.Data;
        var pd = descriptors[0x0004];
        Assert.Equal(0x1C, pd.Length);
        Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(o.AsSpan(8)), BinaryPrimitives.ReadUInt16BigEndian(pd.AsSpan(4)));  // CSCD descriptors
        Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(o.AsSpan(10)), BinaryPrimitives.ReadUInt16BigEndian(pd.AsSpan(6))); // segment descriptors
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(o.AsSpan(12)), BinaryPrimitives.ReadUInt32BigEndian(pd.AsSpan(8))); // list length
        Assert.True(BinaryPrimitives.ReadUInt16BigEndian(pd.AsSpan(4)) >= 2);
        Assert.All(pd.AsSpan(0, 4).ToArray(), b => Assert.Equal(0, b));
        Assert.All(pd.AsSpan(16).ToArray(), b => Assert.Equal(0, b));

        var gc = descriptors[0x8001];
        Assert.Equal(0x20, gc.Length);
        Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(o.AsSpan(34)), (int)BinaryPrimitives.ReadUInt32BigEndian(gc)); // total concurrent copies
        Assert.Equal(o[36], (int)BinaryPrimitives.ReadUInt32BigEndian(gc.AsSpan(4)));
        Assert.Equal(BinaryPrimitives.ReadUInt32BigEndian(o.AsSpan(16)), BinaryPrimitives.ReadUInt32BigEndian(gc.AsSpan(8))); // max segment length
        Assert.Equal(o[37], gc[12]); // data segment granularity

        // Supported Descriptors (0008h): the descriptor types OPERATING PARAMETERS lists (block→block, identification).
        var sd = descriptors[0x0008];
        Assert.Equal(o.AsSpan(44, o[43]).ToArray().Order(), sd.AsSpan(1, sd[0]).ToArray().Order());
        Assert.Equal((sd[0] + 1 + 3) & ~3, sd.Length);

        // Supported CSCD Descriptor IDs (000Ch): present, empty.
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(descriptors[0x000C]));
    }

    [Fact]
    public void Device_identification_has_an_naa_designator_derived_from_the_device_id()
    {
        using var h = new ScsiHarness();
        var d = h.Run(Cdb.Inquiry(true, 0x83, 1024)).Data;
        var types = new List<int>();
        for (int at = 4; at < d.Length; at += 4 + d[at + 3])
        {
            types.Add(d[at + 1] & 0x0F);
            if ((d[at + 1] & 0x0F) == 3) Assert.Equal(3, d[at + 4] >> 4); // NAA locally assigned
        }
        Assert.Contains(3, types);
        Assert.Contains(1, types);
        Assert.Contains(4, types);
        Assert.Contains(5, types);
        Assert.Contains(8, types);
    }

    [Fact]
    public void Block_limits_and_provisioning_pages_advertise_unmap_and_write_same()
    {
        using var h = new ScsiHarness();
        var bl = h.Run(Cdb.Inquiry(true, 0xB0)).Data;
        Assert.Equal(0x3C, bl[3]);
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(bl.AsSpan(20)) > 0);
        Assert.True(BinaryPrimitives.ReadUInt32BigEndian(bl.AsSpan(24)) > 0);
        Assert.True(bl[5] > 0);
        var lbp = h.Run(Cdb.Inquiry(true, 0xB2)).Data;
        Assert.Equal(0xE4, lbp[5] & 0xE4); // LBPU, LBPWS, LBPWS10, LBPRZ
        Assert.Equal(2, lbp[6] & 0x07);    // thin
    }

    [Fact]
    public void Read_capacity_reports_the_last_lba_and_thin_provisioning()
    {
        using var h = new ScsiHarness(blocks: 4096);
        var r10 = h.Run(Cdb.ReadCapacity10()).Data;
        Assert.Equal(4095u, BinaryPrimitives.ReadUInt32BigEndian(r10));
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32BigEndian(r10.AsSpan(4)));
        var r16 = h.Run(Cdb.ReadCapacity16()).Data;
        Assert.Equal(4095L, BinaryPrimitives.ReadInt64BigEndian(r16));
        Assert.Equal(0xC0, r16[14] & 0xC0);
        Assert.Equal(0, r16[13] & 0x0F); // 512-byte physical blocks by default
    }

    [Fact]
    public void Physical_block_exponent_can_follow_the_device_granularity()
    {
        using var h = new ScsiHarness(options: new ScsiBlockDeviceOptions { PhysicalBlockExponent = null });
        Assert.Equal(3, h.Run(Cdb.ReadCapacity16()).Data[13] & 0x0F);
        var bl = h.Run(Cdb.Inquiry(true, 0xB0)).Data;
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32BigEndian(bl.AsSpan(28))); // OPTIMAL UNMAP GRANULARITY
    }

    [Fact]
    public void Report_luns_lists_the_targets_luns()
    {
        using var h = new ScsiHarness(options: new ScsiBlockDeviceOptions { ReportLuns = () => [0, 1, 300] });
        var d = h.Run(Cdb.ReportLuns()).Data;
        Assert.Equal(24u, BinaryPrimitives.ReadUInt32BigEndian(d));
        Assert.Equal(1, d[17]);
        Assert.Equal(0x41, d[24]);
        Assert.Equal(300 & 0xFF, d[25]);
        h.Run(Cdb.ReportLuns(8)).AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
    }

    [Fact]
    public void Supported_opcodes_list_every_command_and_one_command_queries_agree()
    {
        using var h = new ScsiHarness();
        var all = h.Run(Cdb.ReportSupportedOpcodes()).Data;
        int len = (int)BinaryPrimitives.ReadUInt32BigEndian(all);
        Assert.Equal(0, len % 8);
        for (int at = 4; at < 4 + len; at += 8)
        {
            byte op = all[at];
            ushort sa = BinaryPrimitives.ReadUInt16BigEndian(all.AsSpan(at + 2));
            bool servactv = (all[at + 5] & 1) != 0;
            var one = h.Run(Cdb.ReportSupportedOpcodes(servactv ? (byte)2 : (byte)1, op, sa));
            one.AssertGood();
            Assert.Equal(3, one.Data[1] & 0x07);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(all.AsSpan(at + 6)), BinaryPrimitives.ReadUInt16BigEndian(one.Data.AsSpan(2)));
            Assert.Equal(op, one.Data[4]);
            var wrong = h.Run(Cdb.ReportSupportedOpcodes(servactv ? (byte)1 : (byte)2, op, sa));
            wrong.AssertCheck(SenseKey.IllegalRequest, Asc.InvalidFieldInCdb);
        }
        var rctd = h.Run(Cdb.ReportSupportedOpcodes(rctd: true)).Data;
        Assert.Equal(0x02, rctd[4 + 5] & 0x02);
        Assert.Equal(20 * (len / 8), (int)BinaryPrimitives.ReadUInt32BigEndian(rctd));
    }
}
