using Cairn.Export.Tgt;

namespace Cairn.Export.Tests;

/// <summary>tgtadm's show output (as tgt 1.0.85 prints it) is read into targets, LUNs, accounts, ACLs and sessions.</summary>
public sealed class TgtParserTests
{
    private const string Show = """
        Target 1: iqn.2026-01.org.example:t1
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
                I_T nexus: 6
                    Initiator: iqn.2026-01.org.example:i1 alias: none
                    Connection: 0
                        IP Address: 127.0.0.1
            LUN information:
                LUN: 0
                    Type: controller
                    Backing store type: null
                    Backing store path: None
                    Backing store flags: 
                LUN: 1
                    Type: disk
                    Readonly: Yes
                    Backing store type: rdwr
                    Backing store path: /tank/v/volume.img
                    Backing store flags: 
            Account information:
                u1
                m1 (outgoing)
            ACL information:
                iqn.2026-01.org.example:i1
        Target 1000000: iqn.2026-01.org.example:t2
            System information:
                Driver: iscsi
                State: offline
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    Backing store path: None
            Account information:
            ACL information:

        """;

    [Fact]
    public void Targets_are_read_with_luns_accounts_acl_and_sessions()
    {
        var targets = TgtParser.ParseTargets(Show);
        Assert.Equal(2, targets.Count);
        var t = targets[0];
        Assert.Equal((1, "iqn.2026-01.org.example:t1", "ready"), (t.Tid, t.Name, t.State));
        Assert.Equal([new TgtLun(1, "/tank/v/volume.img", true)], t.Luns);
        Assert.Equal(["u1"], t.Accounts);
        Assert.Equal("m1", t.OutgoingAccount);
        Assert.Equal(["iqn.2026-01.org.example:i1"], t.Acl);
        var session = Assert.Single(t.Sessions);
        // The nexus and connection ids are what `tgtadm --mode conn --op delete` takes to end the session.
        Assert.Equal(("iqn.2026-01.org.example:i1", "127.0.0.1", 6), (session.Initiator, session.Address, session.Sid));
        Assert.Equal([0], session.Connections!);

        var u = targets[1];
        Assert.Equal((1_000_000, "offline"), (u.Tid, u.State));
        Assert.Empty(u.Luns);
        Assert.Empty(u.Accounts);
        Assert.Null(u.OutgoingAccount);
        Assert.Empty(u.Acl);
        Assert.Empty(u.Sessions);
    }

    [Fact]
    public void Account_list_is_read_and_nothing_is_read_from_nothing()
    {
        Assert.Equal(["m1", "u1"], TgtParser.ParseAccounts("Account list:\n    m1\n    u1\n"));
        Assert.Empty(TgtParser.ParseAccounts("Account list:\n"));
        Assert.Empty(TgtParser.ParseTargets(""));
    }
}
