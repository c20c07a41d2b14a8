using System.Buffers.Binary;
using Cairn.Iscsi.Protocol;
using Cairn.Iscsi.Scsi;
using Cairn.Iscsi.Target;

namespace Cairn.Iscsi.Tests.Target;

public class TextAndSessionTests
{
    private static async Task<(byte[] Bhs, byte[] Data)> TextAsync(RawInitiator i, byte[] data, uint ttt = 0xFFFFFFFF, bool cont = false)
    {
        uint itt = i.Itt++;
        await i.SendAsync(IscsiOpcode.TextRequest, (byte)(cont ? 0x40 : 0x80), data, h =>
        {
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), ttt);
            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), i.CmdSn);
        }, immediate: true);
        var r = await i.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.TextResponse, (IscsiOpcode)(r.Bhs[0] & 0x3F));
        return r;
    }

    private static List<KeyValuePair<string, string>> Keys(byte[] data)
    {
        var list = new List<KeyValuePair<string, string>>();
        Assert.True(TextKeys.TryParse(data, list));
        return list;
    }

    [Fact]
    public async Task Send_targets_in_a_normal_session_and_long_answers_continue_with_the_c_bit()
    {
        await using var host = await TargetHost.StartAsync();
        for (int n = 0; n < 40; n++)
            host.Registry.AddOrUpdate(new IscsiTarget { Iqn = $"iqn.2026-11.io.cairn:extra-target-with-a-long-name-{n:D3}", Initiators = [TargetHost.Initiator1] });
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn, "MaxRecvDataSegmentLength=512")).Class);

        var self = Keys((await TextAsync(i, "SendTargets=\0"u8.ToArray())).Data);
        Assert.Equal(("TargetName", TargetHost.TargetIqn), (self[0].Key, self[0].Value));
        Assert.Equal($"127.0.0.1:{host.Port},1", self[1].Value);

        // 41 targets do not fit in 512 bytes: C=1 pieces, each fetched with the TTT of the previous one.
        var all = new List<byte>();
        var r = await TextAsync(i, "SendTargets=All\0"u8.ToArray());
        int pieces = 1;
        while ((r.Bhs[1] & 0x80) == 0)
        {
            Assert.Equal(0x40, r.Bhs[1] & 0x40);
            Assert.True(r.Data.Length <= 512);
            all.AddRange(r.Data);
            r = await TextAsync(i, [], BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(20)));
            pieces++;
        }
        all.AddRange(r.Data);
        Assert.True(pieces > 2);
        Assert.Equal(41, Keys(all.ToArray()).Count(k => k.Key == "TargetName"));
    }

    [Fact]
    public async Task Text_request_split_over_pdus_with_the_c_bit_is_reassembled()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await i.LoginAsync(TargetHost.Initiator1, null)).Class);
        var first = await TextAsync(i, "SendTarg"u8.ToArray(), cont: true);
        Assert.Empty(first.Data);
        Assert.Equal(0, first.Bhs[1] & 0x80);
        var rest = await TextAsync(i, "ets=All\0"u8.ToArray(), BinaryPrimitives.ReadUInt32BigEndian(first.Bhs.AsSpan(20)));
        Assert.Equal(0x80, rest.Bhs[1] & 0x80);
        Assert.Contains(Keys(rest.Data), k => k.Key == "TargetName" && k.Value == TargetHost.TargetIqn);
    }

    [Fact]
    public async Task Login_text_split_over_pdus_with_the_c_bit_is_reassembled()
    {
        await using var host = await TargetHost.StartAsync();
        await using var i = await RawInitiator.ConnectAsync(host.Port);
        var first = $"InitiatorName={TargetHost.Initiator1}\0TargetNa";
        var second = $"me={TargetHost.TargetIqn}\0AuthMethod=None\0";
        await i.SendAsync(IscsiOpcode.LoginRequest, 0x40 | 0x00 | 0x03, System.Text.Encoding.UTF8.GetBytes(first), h => { h[8] = 0x80; h[13] = 1; BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), 0x10); BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), 1); }, immediate: true);
        var r = await i.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal((0, 0), (r.Bhs[36], r.Bhs[37]));
        Assert.Empty(r.Data);
        Assert.Equal(0, r.Bhs[1] & 0x80);
        var (cls, _, keys) = await i.LoginStepAsync(0, 3, [second.TrimEnd('\0')]);
        Assert.Equal(0, cls);
        Assert.Equal("None", keys["AuthMethod"]);
    }

    [Fact]
    public async Task Second_login_with_the_same_isid_reinstates_the_session()
    {
        await using var host = await TargetHost.StartAsync();
        await using var a = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await a.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        await using var b = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await b.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        Assert.True(await a.ClosedAsync());
        Assert.Single(host.Registry.SessionsOf(TargetHost.TargetIqn));
        uint itt = await b.CommandAsync(new byte[16], 0, false, false);
        Assert.Equal(0, (await b.ResponseAsync(itt)).Status);
    }

    [Fact]
    public async Task Denying_an_initiator_ends_only_its_sessions()
    {
        await using var host = await TargetHost.StartAsync(o => o.LogoutGraceSeconds = 1);
        await using var a = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await a.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class);
        await using var b = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal(0, (await b.LoginAsync(TargetHost.Initiator2, TargetHost.TargetIqn)).Class);
        Assert.True(host.Registry.Deny(TargetHost.TargetIqn, TargetHost.Initiator1.ToUpperInvariant()));
        var msg = await a.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.AsyncMessage, (IscsiOpcode)(msg.Bhs[0] & 0x3F));
        // The initiator answers with a logout, as asked.
        await a.SendAsync(IscsiOpcode.LogoutRequest, 0x80, default, h => BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(24), a.CmdSn), immediate: true);
        var lo = await a.ReadAsync() ?? throw new IOException("closed");
        Assert.Equal(IscsiOpcode.LogoutResponse, (IscsiOpcode)(lo.Bhs[0] & 0x3F));
        Assert.True(await a.ClosedAsync());
        uint itt = await b.CommandAsync(new byte[16], 0, false, false);
        Assert.Equal(0, (await b.ResponseAsync(itt)).Status);
        await using var c = await RawInitiator.ConnectAsync(host.Port);
        Assert.Equal((2, 2), ((int)(await c.LoginAsync(TargetHost.Initiator1, TargetHost.TargetIqn)).Class, 2));
    }

    [Fact]
    public async Task Sixty_four_concurrent_sessions_do_mixed_io_with_data_verified()
    {
        await using var host = await TargetHost.StartAsync(addDefaultTarget: false);
        host.Registry.AddOrUpdate(new IscsiTarget
        {
            Iqn = TargetHost.TargetIqn,
            Luns = new Dictionary<int, IScsiLogicalUnit> { [0] = new TestLogicalUnit(64 * 64) },
            Initiators = ["*"],
        });
        await Task.WhenAll(Enumerable.Range(0, 64).Select(async n =>
        {
            await using var i = await RawInitiator.ConnectAsync(host.Port);
            Assert.Equal(0, (await i.LoginAsync($"iqn.2026-11.io.cairn:load{n}", TargetHost.TargetIqn, "InitialR2T=Yes", "ImmediateData=Yes", "FirstBurstLength=4096", "MaxBurstLength=8192")).Class);
            var rnd = new Random(n);
            for (int k = 0; k < 20; k++)
            {
                uint lba = (uint)(n * 64 + rnd.Next(0, 48));
                ushort blocks = (ushort)rnd.Next(1, 17);
                var data = new byte[blocks * 512];
                rnd.NextBytes(data);
                // Immediate data up to FirstBurstLength, the rest via R2T.
                int imm = Math.Min(data.Length, 4096);
                uint itt = await i.CommandAsync(RawInitiator.Write10(lba, blocks), (uint)data.Length, false, true, data.AsMemory(0, imm));
                int sent = imm;
                while (sent < data.Length)
                {
                    var r = await i.ReadAsync() ?? throw new IOException("closed");
                    Assert.Equal(IscsiOpcode.ReadyToTransfer, (IscsiOpcode)(r.Bhs[0] & 0x3F));
                    uint ttt = BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(20));
                    int off = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(40));
                    int len = (int)BinaryPrimitives.ReadUInt32BigEndian(r.Bhs.AsSpan(44));
                    for (int p = 0, sn = 0; p < len; p += 2048, sn++)
                    {
                        int chunk = Math.Min(2048, len - p);
                        int at = off + p;
                        int dataSn = sn;
                        await i.SendAsync(IscsiOpcode.DataOut, (byte)(p + chunk == len ? 0x80 : 0), data.AsSpan(at, chunk), h =>
                        {
                            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(16), itt);
                            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(20), ttt);
                            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(36), (uint)dataSn);
                            BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(40), (uint)at);
                        });
                    }
                    sent += len;
                }
                Assert.Equal(0, (await i.ResponseAsync(itt)).Status);
                itt = await i.CommandAsync(RawInitiator.Read10(lba, blocks), (uint)data.Length, true, false);
                Assert.Equal(data, (await i.ResponseAsync(itt)).Data);
            }
        }));
    }
}
