using System.Text;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Protocol;

public class Crc32CTests
{
    public static TheoryData<byte[], uint> Vectors()
    {
        var asc = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        return new()
        {
            { Encoding.ASCII.GetBytes("123456789"), 0xE3069283 },
            // RFC 3720 Appendix B.4
            { new byte[32], 0x8A9136AA },
            { Enumerable.Repeat((byte)0xFF, 32).ToArray(), 0x62A8AB43 },
            { asc, 0x46DD794E },
            { asc.Reverse().ToArray(), 0x113FDB5C },
            { [], 0 },
        };
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Known_vectors_match_on_both_paths(byte[] data, uint expected)
    {
        Assert.Equal(expected, Crc32C.Compute(data));
        Assert.Equal(expected, ~Crc32C.UpdateTable(~0u, data));
    }

    [Fact]
    public void Hardware_and_table_paths_agree_at_every_length_and_split()
    {
        var rnd = new Random(7);
        var data = new byte[300];
        rnd.NextBytes(data);
        for (int n = 0; n <= data.Length; n++)
        {
            var span = data.AsSpan(0, n);
            uint whole = Crc32C.Compute(span);
            Assert.Equal(whole, ~Crc32C.UpdateTable(~0u, span));
            int cut = n / 3;
            Assert.Equal(whole, ~Crc32C.Update(Crc32C.Update(~0u, span[..cut]), span[cut..]));
        }
    }
}
