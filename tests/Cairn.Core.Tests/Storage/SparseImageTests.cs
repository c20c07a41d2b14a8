using System.Buffers.Binary;
using System.IO.Pipelines;
using Cairn.Core.Storage;

namespace Cairn.Core.Tests.Storage;

/// <summary>The one sparse image codec: what the encoder sends, the decoder rebuilds, and bad streams are refused.</summary>
public sealed class SparseImageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An image with data scattered over it, zero blocks inside the data ranges, and a tail not a multiple of 512.</summary>
    private static byte[] Image(int size)
    {
        var img = new byte[size];
        var rnd = new Random(7);
        foreach (var (at, len) in new[] { (0, 4096), (12_288, 300_000), (700_000, 5000), (size - 700, 700) })
            rnd.NextBytes(img.AsSpan(at, len));
        img.AsSpan(12_288 + 8192, 4096).Clear(); // a zero block inside a data range is not sent
        return img;
    }

    private static async Task<byte[]> Encode(byte[] img, IEnumerable<ByteRange> ranges)
    {
        var ms = new MemoryStream();
        var w = PipeWriter.Create(ms, new StreamPipeWriterOptions(leaveOpen: true));
        await SparseImage.EncodeAsync(w, img.Length, ranges, (pos, into) =>
        {
            var n = (int)Math.Min(into.Length, img.Length - pos);
            img.AsSpan((int)pos, n).CopyTo(into);
            return n;
        }, null, Ct);
        await w.CompleteAsync();
        return ms.ToArray();
    }

    private static async Task<(byte[] Image, long Received)> Decode(byte[] stream)
    {
        var r = PipeReader.Create(new MemoryStream(stream), new StreamPipeReaderOptions(bufferSize: 1000)); // records arrive split
        var size = await SparseImage.ReadHeaderAsync(r, Ct);
        var img = new byte[size];
        var received = await SparseImage.DecodeRecordsAsync(r, size, (o, d) => d[..(int)Math.Min(d.Length, size - o)].CopyTo(img.AsSpan((int)o)), Ct);
        return (img, received);
    }

    [Fact]
    public async Task An_encoded_image_decodes_to_the_same_bytes_without_its_zero_blocks()
    {
        var img = Image(1_000_300);
        var stream = await Encode(img, [new ByteRange(0, img.Length)]);
        var (back, received) = await Decode(stream);

        Assert.Equal(img, back);
        long nonZeroBlocks = 0;
        for (int at = 0; at < img.Length; at += SparseImage.Block)
            if (!SparseStream.IsZero(img.AsSpan(at, Math.Min(SparseImage.Block, img.Length - at)))) nonZeroBlocks++;
        Assert.True(received < (long)nonZeroBlocks * SparseImage.Block + 512, $"{received} bytes sent for {nonZeroBlocks} non-zero blocks");
        Assert.True(stream.Length < img.Length / 2);
    }

    [Fact]
    public async Task Only_the_data_ranges_are_read()
    {
        var img = Image(1_000_300);
        var read = new List<long>();
        var ms = new MemoryStream();
        var w = PipeWriter.Create(ms);
        await SparseImage.EncodeAsync(w, img.Length, [new ByteRange(12_288, 300_000)], (pos, into) =>
        {
            read.Add(pos);
            img.AsSpan((int)pos, into.Length).CopyTo(into);
            return into.Length;
        }, null, Ct);
        Assert.All(read, p => Assert.InRange(p, 12_288, 12_288 + 300_000));
    }

    [Fact]
    public async Task A_record_out_of_order_is_refused()
    {
        var img = Image(1_000_300);
        var stream = await Encode(img, [new ByteRange(0, img.Length)]);
        // Point the second record at offset 0, before the end of the first.
        var firstLength = BinaryPrimitives.ReadUInt32BigEndian(stream.AsSpan(SparseStream.HeaderSize + 8));
        var second = SparseStream.HeaderSize + SparseStream.RecordHeaderSize + (int)firstLength;
        BinaryPrimitives.WriteUInt64BigEndian(stream.AsSpan(second), 0);
        var e = await Assert.ThrowsAsync<CairnException>(() => Decode(stream));
        Assert.Contains("out of order", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_cut_short_is_refused()
    {
        var img = Image(1_000_300);
        var stream = await Encode(img, [new ByteRange(0, img.Length)]);
        var e = await Assert.ThrowsAsync<CairnException>(() => Decode(stream[..(stream.Length - SparseStream.RecordHeaderSize - 100)]));
        Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
    }
}
