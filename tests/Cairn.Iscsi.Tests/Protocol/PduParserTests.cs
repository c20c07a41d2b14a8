using System.Buffers;
using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Protocol;

public class PduParserTests
{
    /// <summary>A NOP-Out with 5 bytes of ping data (padded), optionally with both digests.</summary>
    internal static byte[] Fixture(bool digests, int dataLength = 5)
    {
        var bhs = new byte[48];
        PduWriter.Init(bhs, IscsiOpcode.NopOut, 0x80, dataLength);
        bhs[0] |= 0x40;
        PduWriter.U32(bhs, 16, 0x1234);
        PduWriter.U32(bhs, 20, 0xFFFFFFFF);
        PduWriter.U32(bhs, 24, 7);
        var data = Enumerable.Range(1, dataLength).Select(i => (byte)i).ToArray();
        var w = new ArrayBufferWriter<byte>();
        PduWriter.Frame(w, bhs, data, digests, digests);
        return w.WrittenSpan.ToArray();
    }

    private static readonly PduLimits NoDigest = new(8192, false, false);
    private static readonly PduLimits Digests = new(8192, true, true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Whole_pdu_round_trips(bool digests)
    {
        var bytes = Fixture(digests);
        Assert.Equal(48 + 8 + (digests ? 8 : 0), bytes.Length);
        var seq = new ReadOnlySequence<byte>(bytes);
        var pdu = new Pdu();
        Assert.Equal(ParseStatus.Complete, PduParser.TryParse(ref seq, digests ? Digests : NoDigest, pdu, out _));
        Assert.True(seq.IsEmpty);
        Assert.Equal(IscsiOpcode.NopOut, pdu.Opcode);
        Assert.True(pdu.Immediate);
        Assert.True(pdu.Final);
        Assert.Equal(0x1234u, pdu.InitiatorTaskTag);
        Assert.Equal(7u, pdu.U32(24));
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, pdu.Data.ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Split_at_every_offset_parses_the_same(bool digests)
    {
        var bytes = Fixture(digests).Concat(Fixture(digests)).ToArray();
        for (int cut = 0; cut <= bytes.Length; cut++)
        {
            var seq = Segments.Of(bytes[..cut], bytes[cut..]);
            var pdu = new Pdu();
            for (int k = 0; k < 2; k++)
            {
                Assert.Equal(ParseStatus.Complete, PduParser.TryParse(ref seq, digests ? Digests : NoDigest, pdu, out _));
                Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, pdu.Data.ToArray());
            }
            Assert.True(seq.IsEmpty);
        }
    }

    [Fact]
    public void One_byte_at_a_time_needs_more_data_until_the_last_byte()
    {
        var bytes = Fixture(true);
        var pdu = new Pdu();
        for (int n = 0; n < bytes.Length; n++)
        {
            var partial = new ReadOnlySequence<byte>(bytes, 0, n);
            Assert.Equal(ParseStatus.NeedMoreData, PduParser.TryParse(ref partial, Digests, pdu, out _));
            Assert.Equal(n, partial.Length); // untouched
        }
        var all = Segments.Of(bytes.Select(b => new[] { b }).ToArray());
        Assert.Equal(ParseStatus.Complete, PduParser.TryParse(ref all, Digests, pdu, out _));
    }

    [Fact]
    public void Oversized_data_segment_is_refused_from_the_header_alone()
    {
        var bhs = new byte[48];
        PduWriter.Init(bhs, IscsiOpcode.ScsiCommand, 0x80, 0xFFFFFF);
        var seq = new ReadOnlySequence<byte>(bhs);
        Assert.Equal(ParseStatus.Error, PduParser.TryParse(ref seq, NoDigest, new Pdu(), out var err));
        Assert.Equal(PduError.DataSegmentTooLong, err);
    }

    [Fact]
    public void Corrupt_digests_are_detected()
    {
        var bytes = Fixture(true);
        bytes[20] ^= 1;
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(ParseStatus.Error, PduParser.TryParse(ref seq, Digests, new Pdu(), out var err));
        Assert.Equal(PduError.HeaderDigest, err);

        bytes = Fixture(true);
        bytes[53] ^= 1;
        seq = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(ParseStatus.Error, PduParser.TryParse(ref seq, Digests, new Pdu(), out err));
        Assert.Equal(PduError.DataDigest, err);
    }

    [Fact]
    public void Ahs_is_sliced_and_data_follows_it()
    {
        var bhs = new byte[48 + 8];
        PduWriter.Init(bhs, IscsiOpcode.ScsiCommand, 0x80, 4);
        bhs[4] = 2; // 8 bytes of AHS
        bhs[48] = 0; bhs[49] = 5; bhs[50] = 1;
        var bytes = bhs.Concat(new byte[] { 9, 9, 9, 9 }).ToArray();
        var seq = new ReadOnlySequence<byte>(bytes);
        var pdu = new Pdu();
        Assert.Equal(ParseStatus.Complete, PduParser.TryParse(ref seq, NoDigest, pdu, out _));
        Assert.Equal(8, pdu.Ahs.Length);
        Assert.Equal(new byte[] { 9, 9, 9, 9 }, pdu.Data.ToArray());
        Assert.Equal(5, BinaryPrimitives.ReadUInt16BigEndian(pdu.Ahs.FirstSpan));
    }
}

/// <summary>Builds multi-segment sequences.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> m, long index)
    {
        Memory = m;
        RunningIndex = index;
    }

    public static ReadOnlySequence<byte> Of(params byte[][] parts)
    {
        Segments? first = null, last = null;
        long index = 0;
        foreach (var p in parts)
        {
            var s = new Segments(p, index);
            index += p.Length;
            if (first is null) first = s;
            else last!.Next = s;
            last = s;
        }
        if (first is null) return ReadOnlySequence<byte>.Empty;
        return new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }
}
