using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using ArmCrc = System.Runtime.Intrinsics.Arm.Crc32;

namespace Cairn.Iscsi.Protocol;

/// <summary>
/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) as used for iSCSI header and data digests
/// (RFC 7143 §13.1; RFC 3720 Appendix B.4 vectors). SSE4.2 / ARMv8 CRC instructions when present, else slicing-by-8.
/// </summary>
public static class Crc32C
{
    private const uint Poly = 0x82F63B78u;
    private static readonly uint[] Table = BuildTable();

    /// <summary>CRC32C of <paramref name="data"/> (initial value ~0, final XOR ~0).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>CRC32C of a possibly multi-segment sequence.</summary>
    public static uint Compute(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return Compute(data.FirstSpan);
        uint crc = ~0u;
        foreach (var m in data) crc = Update(crc, m.Span);
        return ~crc;
    }

    /// <summary>Continues a running (non-finalized) CRC: start with <c>~0u</c>, finish with <c>~crc</c>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        if (Sse42.X64.IsSupported) return UpdateSse64(crc, data);
        if (Sse42.IsSupported) return UpdateSse32(crc, data);
        if (ArmCrc.Arm64.IsSupported) return UpdateArm(crc, data);
        return UpdateTable(crc, data);
    }

    private static uint UpdateSse64(uint crc, ReadOnlySpan<byte> data)
    {
        ulong c = crc;
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length, i = 0;
        for (; i + 8 <= n; i += 8) c = Sse42.X64.Crc32(c, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
        uint r = (uint)c;
        for (; i < n; i++) r = Sse42.Crc32(r, Unsafe.Add(ref p, i));
        return r;
    }

    private static uint UpdateSse32(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length, i = 0;
        for (; i + 4 <= n; i += 4) crc = Sse42.Crc32(crc, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i)));
        for (; i < n; i++) crc = Sse42.Crc32(crc, Unsafe.Add(ref p, i));
        return crc;
    }

    private static uint UpdateArm(uint crc, ReadOnlySpan<byte> data)
    {
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length, i = 0;
        for (; i + 8 <= n; i += 8) crc = ArmCrc.Arm64.ComputeCrc32C(crc, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
        for (; i < n; i++) crc = ArmCrc.ComputeCrc32C(crc, Unsafe.Add(ref p, i));
        return crc;
    }

    /// <summary>Portable slicing-by-8 path (exposed for tests so both paths are checked on any machine).</summary>
    internal static uint UpdateTable(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data[i..]) ^ crc;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]);
            crc = t[(7 * 256) + (lo & 0xFF)] ^ t[(6 * 256) + ((lo >> 8) & 0xFF)] ^ t[(5 * 256) + ((lo >> 16) & 0xFF)] ^ t[(4 * 256) + (lo >> 24)]
                ^ t[(3 * 256) + (hi & 0xFF)] ^ t[(2 * 256) + ((hi >> 8) & 0xFF)] ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
        }
        for (; i < data.Length; i++) crc = t[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Poly : c >> 1;
            t[i] = c;
        }
        for (int s = 1; s < 8; s++)
            for (int i = 0; i < 256; i++)
                t[(s * 256) + i] = (t[((s - 1) * 256) + i] >> 8) ^ t[t[((s - 1) * 256) + i] & 0xFF];
        return t;
    }
}
