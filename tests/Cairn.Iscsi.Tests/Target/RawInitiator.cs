using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Cairn.Iscsi.Protocol;

namespace Cairn.Iscsi.Tests.Target;

/// <summary>A minimal iSCSI initiator over raw TCP for tests: builds PDUs by hand, no digests.</summary>
internal sealed class RawInitiator : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    public uint CmdSn = 1;
    public uint ExpStatSn;
    public uint Itt = 1;

    /// <summary>Header and data digests (CRC32C) on both directions, once login has finished.</summary>
    public bool Digests;

    private RawInitiator(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawInitiator> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        return new RawInitiator(tcp);
    }

    public Task SendRawAsync(ReadOnlyMemory<byte> bytes) => _stream.WriteAsync(bytes, TestContext.Current.CancellationToken).AsTask();

    public static byte[] Build(IscsiOpcode op, byte flags, ReadOnlySpan<byte> data, Action<byte[]>? fill = null, bool immediate = false)
    {
        var pdu = new byte[48 + ((data.Length + 3) & ~3)];
        pdu[0] = (byte)((byte)op | (immediate ? 0x40 : 0));
        pdu[1] = flags;
        pdu[5] = (byte)(data.Length >> 16); pdu[6] = (byte)(data.Length >> 8); pdu[7] = (byte)data.Length;
        var bhs = new byte[48];
        fill?.Invoke(bhs);
        bhs.AsSpan(8, 40).CopyTo(pdu.AsSpan(8));
        data.CopyTo(pdu.AsSpan(48));
        return pdu;
    }

    public Task SendAsync(IscsiOpcode op, byte flags, ReadOnlySpan<byte> data, Action<byte[]>? fill = null, bool immediate = false)
    {
        var pdu = Build(op, flags, data, fill, immediate);
        if (!Digests) return SendRawAsync(pdu);
        var w = new System.Buffers.ArrayBufferWriter<byte>();
        PduWriter.Frame(w, pdu.AsSpan(0, 48), data, true, true);
        return SendRawAsync(w.WrittenMemory);
    }

    /// <summary>Reads one PDU; null when the target closed the connection.</summary>
    public async Task<(byte[] Bhs, byte[] Data)?> ReadAsync(int timeoutMs = 5000)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeoutMs);
        var bhs = new byte[48];
        if (!await FillAsync(bhs, cts.Token)) return null;
        int ahs = bhs[4] * 4, dsl = (bhs[5] << 16) | (bhs[6] << 8) | bhs[7];
        if (ahs > 0 && !await FillAsync(new byte[ahs], cts.Token)) return null;
        if (Digests)
        {
            var hd = new byte[4];
            if (!await FillAsync(hd, cts.Token)) return null;
            Assert.Equal(Crc32C.Compute(bhs), BinaryPrimitives.ReadUInt32LittleEndian(hd));
        }
        var data = new byte[((dsl + 3) & ~3) + (Digests && dsl > 0 ? 4 : 0)];
        if (data.Length > 0 && !await FillAsync(data, cts.Token)) return null;
        if (Digests && dsl > 0)
        {
            int padded = (dsl + 3) & ~3;
            Assert.Equal(Crc32C.Compute(data.AsSpan(0, padded)), BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(padded)));
        }
        var op = (IscsiOpcode)(bhs[0] & 0x3F);
        if (op is IscsiOpcode.ScsiResponse or IscsiOpcode.NopIn or IscsiOpcode.LoginResponse or IscsiOpcode.TextResponse
            or IscsiOpcode.TaskManagementResponse or IscsiOpcode.LogoutResponse || (op == IscsiOpcode.DataIn && (bhs[1] & 1) != 0))
            ExpStatSn = BinaryPrimitives.ReadUInt32BigEndian(bhs.AsSpan(24)) + 1;
        return (bhs, data[..dsl]);
    }

    private async Task<bool> FillAsync(byte[] buf, CancellationToken ct)
    {
        int got = 0;
        try
        {
            while (got < buf.Length)
            {
                int n = await _stream.ReadAsync(buf.AsMemory(got), ct);
                if (n == 0) return false;
                got += n;
            }
            return true;
        }
        catch (IOException) { return false; }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested) { return false; }
    }

    /// <summary>True when the target closed the connection (EOF or reset) within the timeout.</summary>
    public async Task<bool> ClosedAsync(int timeoutMs = 5000)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeoutMs);
        var buf = new byte[4096];
        try
        {
            while (true)
                if (await _stream.ReadAsync(buf, cts.Token) == 0) return true;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    /// <summary>One-PDU login straight to full feature phase (operational stage, T=1, NSG=3).</summary>
    public async Task<(byte Class, byte Detail, Dictionary<string, string> Keys)> LoginAsync(string initiator, string? target,
        params string[] extra)
    {
        var keys = new List<string> { $"InitiatorName={initiator}" };
        keys.Add(target is null ? "SessionType=Discovery" : $"TargetName={target}");
        keys.AddRange(extra);
        keys.Add("AuthMethod=None");
        return await LoginStepAsync(csg: 0, nsg: 3, keys.ToArray());
    }

    public async Task<(byte Class, byte Detail, Dictionary<string, string> Keys)> LoginStepAsync(int csg, int nsg, string[] keys, bool transit = true)
    {
        var data = System.Text.Encoding.UTF8.GetBytes(string.Concat(keys.Select(k => k + "\0")));
        await SendAsync(IscsiOpcode.LoginRequest, (byte)((transit ? 0x80 : 0) | (csg << 2) | nsg), data, h =>
        {
            h[8] = 0x80; h[13] = 1; // ISID type 2 (random)
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 0x10);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), CmdSn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), ExpStatSn);
        }, immediate: true);
        var r = await ReadAsync() ?? throw new IOException("closed during login");
        Assert.Equal(IscsiOpcode.LoginResponse, (IscsiOpcode)(r.Bhs[0] & 0x3F));
        var parsed = new List<KeyValuePair<string, string>>();
        Assert.True(TextKeys.TryParse(r.Data, parsed));
        return (r.Bhs[36], r.Bhs[37], parsed.ToDictionary(kv => kv.Key, kv => kv.Value));
    }

    /// <summary>Sends a SCSI command (non-immediate) and returns its ITT.</summary>
    public async Task<uint> CommandAsync(byte[] cdb, uint edtl, bool read, bool write, ReadOnlyMemory<byte> immediateData = default, bool final = true)
    {
        uint itt = Itt++;
        uint cmdSn = CmdSn++;
        await SendAsync(IscsiOpcode.ScsiCommand, (byte)((final ? 0x80 : 0) | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 1), immediateData.Span, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), edtl);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), cmdSn);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(28), ExpStatSn);
            cdb.CopyTo(h.AsSpan(32));
        });
        return itt;
    }

    public static byte[] Read10(uint lba, ushort blocks)
    {
        var c = new byte[16];
        c[0] = 0x28;
        BinaryPrimitives.WriteUInt32BigEndian(c.AsSpan(2), lba);
        BinaryPrimitives.WriteUInt16BigEndian(c.AsSpan(7), blocks);
        return c;
    }

    public static byte[] Write10(uint lba, ushort blocks)
    {
        var c = Read10(lba, blocks);
        c[0] = 0x2A;
        return c;
    }

    /// <summary>Reads PDUs until the SCSI status for <paramref name="itt"/>; returns (status, residual flags, residual, data-in).</summary>
    public async Task<(byte Status, byte Flags, uint Residual, byte[] Data)> ResponseAsync(uint itt)
    {
        var (status, flags, residual, _, data) = await ReadResponseAsync(itt);
        return (status, flags, residual, data);
    }

    /// <summary>Like <see cref="ResponseAsync"/>, also returning the sense data of a CHECK CONDITION (without its length prefix).</summary>
    public async Task<(byte Status, byte[] Sense, byte[] Data)> ResponseWithSenseAsync(uint itt)
    {
        var (status, _, _, sense, data) = await ReadResponseAsync(itt);
        return (status, sense, data);
    }

    private async Task<(byte Status, byte Flags, uint Residual, byte[] Sense, byte[] Data)> ReadResponseAsync(uint itt)
    {
        var data = new MemoryStream();
        while (true)
        {
            var r = await ReadAsync() ?? throw new IOException("connection closed");
            var op = (IscsiOpcode)(r.Bhs[0] & 0x3F);
            if (op == IscsiOpcode.DataIn)
            {
                data.Position = BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(40));
                data.Write(r.Data);
                if ((r.Bhs[1] & 1) != 0)
                    return (r.Bhs[3], (byte)(r.Bhs[1] & 0x06), BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(44)), [], data.ToArray());
            }
            else if (op == IscsiOpcode.ScsiResponse)
            {
                Assert.Equal(itt, BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(16)));
                var sense = r.Data.Length >= 2 ? r.Data.AsSpan(2, Math.Min(r.Data.Length - 2, (r.Data[0] << 8) | r.Data[1])).ToArray() : [];
                return (r.Bhs[3], (byte)(r.Bhs[1] & 0x06), BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(44)), sense, data.ToArray());
            }
            else if (op == IscsiOpcode.ReadyToTransfer) throw new InvalidOperationException("unexpected R2T");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
