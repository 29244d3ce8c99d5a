#!/usr/bin/env python3
"""Writes demo/cloudformation/scaleio-mesos-{ubuntu14,rhel7}.json, the two demo stacks.

The templates are the product; this script keeps them in lock-step (they differ only in the
agents' OS). Edit here, then run `python3 demo/cloudformation/generate.py demo/cloudformation`
and commit both outputs: a test regenerates them and fails when the committed JSON differs.
"""
import json
import sys

XEN_TYPES = ["t2.large", "t2.xlarge", "t2.2xlarge", "m4.large", "m4.xlarge", "m4.2xlarge",
             "m4.4xlarge", "c4.xlarge", "c4.2xlarge", "r4.large", "r4.xlarge", "r4.2xlarge"]
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
           "ap-southeast-1", "ap-southeast-2", "ap-northeast-1"]
MAX_AGENTS = 6

# ---------------------------------------------------------------------------------------------
# Shell snippets. They go through Fn::Sub, so bash must never use "${" (write $VAR, not ${VAR}).
# ---------------------------------------------------------------------------------------------

IMDS_FN = r'''imds() {  # instance metadata, IMDSv2 (the instances require session tokens)
  IMDS_TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
  curl -fsS -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" "http://169.254.169.254/latest/$1"
}
'''

SECRET_FN = r'''
# Read the ScaleIO admin password from AWS Secrets Manager with the instance role, signing the
# request (SigV4) with openssl and curl, which both OS images have. Never echo the value.
read_secret() {
  SECRET_ID="$1"; OUT="$2"; REGION="${AWS::Region}"
  ROLE=$(imds meta-data/iam/security-credentials/)
  CREDS=$(imds "meta-data/iam/security-credentials/$ROLE")
  AK=$(printf '%s' "$CREDS" | sed -n 's/.*"AccessKeyId" *: *"\([^"]*\)".*/\1/p')
  SK=$(printf '%s' "$CREDS" | sed -n 's/.*"SecretAccessKey" *: *"\([^"]*\)".*/\1/p')
  TK=$(printf '%s' "$CREDS" | sed -n 's/.*"Token" *: *"\([^"]*\)".*/\1/p')
  HOST="secretsmanager.$REGION.amazonaws.com"
  BODY="{\"SecretId\":\"$SECRET_ID\"}"
  AMZDATE=$(date -u +%Y%m%dT%H%M%SZ); DAY=$(echo "$AMZDATE" | cut -c1-8)
  sha() { openssl dgst -sha256 | sed 's/^.* //'; }
  hmac() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" | sed 's/^.* //'; }
  SIGNED="content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
  CANON=$(printf 'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:%s\nx-amz-date:%s\nx-amz-security-token:%s\nx-amz-target:secretsmanager.GetSecretValue\n\n%s\n%s' \
    "$HOST" "$AMZDATE" "$TK" "$SIGNED" "$(printf '%s' "$BODY" | sha)")
  SCOPE="$DAY/$REGION/secretsmanager/aws4_request"
  STS=$(printf 'AWS4-HMAC-SHA256\n%s\n%s\n%s' "$AMZDATE" "$SCOPE" "$(printf '%s' "$CANON" | sha)")
  K=$(printf '%s' "$DAY" | openssl dgst -sha256 -hmac "AWS4$SK" | sed 's/^.* //')
  K=$(printf '%s' "$REGION" | hmac "$K"); K=$(printf 'secretsmanager' | hmac "$K")
  K=$(printf 'aws4_request' | hmac "$K"); SIG=$(printf '%s' "$STS" | hmac "$K")
  RESPONSE=$(curl -fsS -X POST "https://$HOST/" \
    -H "Content-Type: application/x-amz-json-1.1" -H "X-Amz-Date: $AMZDATE" \
    -H "X-Amz-Security-Token: $TK" -H "X-Amz-Target: secretsmanager.GetSecretValue" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=$AK/$SCOPE, SignedHeaders=$SIGNED, Signature=$SIG" \
    --data "$BODY")
  mkdir -p "$(dirname "$OUT")"; chmod 0700 "$(dirname "$OUT")"
  (umask 077; printf '%s' "$RESPONSE" | sed -n 's/.*"SecretString" *: *"\([^"]*\)".*/\1/p' > "$OUT")
  test -s "$OUT"
}
'''

MASTER_SETUP = r'''#!/bin/bash
# Master: ZooKeeper, Mesos master, Marathon, and an HTTP server for the scheduler's artifacts.
set -e  # never -x: the admin password must not reach the cfn-init log
IP=$(imds meta-data/local-ipv4)
test -e /etc/yum.repos.d/mesosphere.repo || rpm -Uvh "${MesosphereRepoUrl}/el/7/noarch/RPMS/mesosphere-el-repo-7-3.noarch.rpm"
yum -y install java-1.8.0-openjdk-headless httpd mesosphere-zookeeper "mesos-${MesosVersion}" "marathon-${MarathonVersion}"
echo 1 > /var/lib/zookeeper/myid
echo "zk://$IP:2181/mesos" > /etc/mesos/zk
echo "$IP" > /etc/mesos-master/ip
echo "$IP" > /etc/mesos-master/hostname
echo 1 > /etc/mesos-master/quorum
echo "${AWS::StackName}" > /etc/mesos-master/cluster
cat > /etc/default/marathon <<EOF
MARATHON_MASTER=zk://$IP:2181/mesos
MARATHON_ZK=zk://$IP:2181/marathon
MARATHON_HOSTNAME=$IP
EOF
mkdir -p /var/www/html/scaleio
chown centos: /var/www/html/scaleio || true
systemctl disable mesos-slave || true
systemctl stop mesos-slave || true
systemctl enable zookeeper mesos-master marathon httpd
systemctl restart zookeeper mesos-master marathon httpd
'''

MASTER_WAIT = r'''#!/bin/bash
# Succeeds once the Mesos master has a leader and Marathon answers (up to 15 minutes).
for i in $(seq 1 180); do
  if curl -fsS http://127.0.0.1:5050/master/health && curl -fsS http://127.0.0.1:8080/ping; then
    exit 0
  fi
  sleep 5
done
exit 1
'''

AGENT_INSTALL = {
    "ubuntu14": r'''export DEBIAN_FRONTEND=noninteractive
apt-key adv --keyserver hkp://keyserver.ubuntu.com:80 --recv E56151BF
echo "deb ${MesosphereRepoUrl}/ubuntu trusty main" > /etc/apt/sources.list.d/mesosphere.list
apt-get -y update
MESOS_PKG=$(apt-cache madison mesos | awk -v want="${MesosVersion}" 'index($3, want) == 1 { print $3; exit }')
test -n "$MESOS_PKG"
apt-get -y install "mesos=$MESOS_PKG" libaio1 zip curl openssl
echo manual > /etc/init/mesos-master.override
echo manual > /etc/init/zookeeper.override
service mesos-master stop || true
service zookeeper stop || true
''',
    "rhel7": r'''test -e /etc/yum.repos.d/mesosphere.repo || rpm -Uvh "${MesosphereRepoUrl}/el/7/noarch/RPMS/mesosphere-el-repo-7-3.noarch.rpm"
yum -y install "mesos-${MesosVersion}" libaio zip unzip java-1.8.0-openjdk curl openssl
systemctl disable mesos-master || true
systemctl stop mesos-master || true
''',
}

AGENT_RESTART = {
    "ubuntu14": "service mesos-slave restart || service mesos-slave start\n",
    "rhel7": "systemctl enable mesos-slave\nsystemctl restart mesos-slave\n",
}

AGENT_COMMON = r'''IP=$(imds meta-data/local-ipv4)
echo "zk://${Master.PrivateIp}:2181/mesos" > /etc/mesos/zk
echo "$IP" > /etc/mesos-slave/ip
echo "$IP" > /etc/mesos-slave/hostname
echo /var/lib/mesos > /etc/mesos-slave/work_dir
echo mesos > /etc/mesos-slave/containerizers
mkdir -p /var/lib/mesos/isolators/docker/volume
echo /var/lib/mesos/isolators/docker/volume > /etc/mesos-slave/docker_volume_checkpoint_dir
rm -rf /etc/mesos-slave/attributes
mkdir -p /etc/mesos-slave/attributes
echo "__OS__" > /etc/mesos-slave/attributes/os
PLACEMENT="${ScaleIOPlacement}"
INDEX=__INDEX__
case "$PLACEMENT" in
  personas|personas-and-devices)
    case "$INDEX" in
      1) echo primary > /etc/mesos-slave/attributes/scaleio-persona ;;
      2) echo secondary > /etc/mesos-slave/attributes/scaleio-persona ;;
      3) echo tiebreaker > /etc/mesos-slave/attributes/scaleio-persona ;;
    esac ;;
esac
if [ "$PLACEMENT" = personas-and-devices ]; then
  echo pd1 > /etc/mesos-slave/attributes/scaleio-sds-domains
  echo sp1 > /etc/mesos-slave/attributes/scaleio-sds-pd1
  echo /dev/xvdf > /etc/mesos-slave/attributes/scaleio-sds-sp1
  echo pd1 > /etc/mesos-slave/attributes/scaleio-sdc-domains
  echo sp1 > /etc/mesos-slave/attributes/scaleio-sdc-pd1
fi
read_secret "${AdminPasswordSecret}" /etc/scaleio/admin-password
'''

AGENT_WAIT = r'''#!/bin/bash
# Succeeds once the master lists this agent as registered and active (up to 15 minutes).
IP=$(imds meta-data/local-ipv4)
for i in $(seq 1 180); do
  if curl -fsS "http://${Master.PrivateIp}:5050/master/slaves" | grep -q "\"hostname\":\"$IP\""; then
    exit 0
  fi
  sleep 5
done
exit 1
'''

MDM_SETUP = r'''#!/bin/bash
# A node of the pre-created 3-node ScaleIO cluster (not a Mesos agent): installs from the RHEL 7
# bundle after verifying it, and the primary builds the cluster once the other two are ready.
set -e  # never -x: the admin password must not reach the cfn-init log
ROLE=__ROLE__
IP=$(imds meta-data/local-ipv4)
yum -y install libaio zip unzip java-1.8.0-openjdk curl openssl
read_secret "${AdminPasswordSecret}" /etc/scaleio/admin-password
mkdir -p /opt/scaleio-demo
cd /opt/scaleio-demo
curl -fsSL -o bundle.tar.gz "${ScaleIOClusterBundleUrl}"
echo "${ScaleIOClusterBundleSha256}  bundle.tar.gz" | sha256sum -c -
rm -rf bundle && mkdir bundle && tar -xzf bundle.tar.gz -C bundle
cd bundle/scaleio-bundle-*/
sha256sum -c SHA256SUMS
A=$(pwd)/artifacts
MANAGER=1
if [ "$ROLE" = tiebreaker ]; then MANAGER=0; fi
rpm -q EMC-ScaleIO-mdm || MDM_ROLE_IS_MANAGER=$MANAGER rpm -Uvh "$A"/EMC-ScaleIO-mdm-*.el7.x86_64.rpm
rpm -q EMC-ScaleIO-sds || rpm -Uvh "$A"/EMC-ScaleIO-sds-*.el7.x86_64.rpm
if [ "$ROLE" != primary ]; then exit 0; fi

PW=$(cat /etc/scaleio/admin-password)
SEC="${MdmSecondary.PrivateIp}"
TB="${MdmTiebreaker.PrivateIp}"
if ! scli --query_cluster 2>/dev/null | grep -q 'Mode: 3_node'; then
  scli --create_mdm_cluster --master_mdm_ip "$IP" --master_mdm_management_ip "$IP" --master_mdm_name mdm1 --accept_license --approve_certificate
  sleep 5
  scli --login --username admin --password admin
  scli --set_password --old_password admin --new_password "$PW"
  scli --login --username admin --password "$PW"
  scli --add_standby_mdm --new_mdm_ip "$SEC" --mdm_role manager --new_mdm_management_ip "$SEC" --new_mdm_name mdm2
  scli --add_standby_mdm --new_mdm_ip "$TB" --mdm_role tb --new_mdm_name tb
  scli --switch_cluster_mode --cluster_mode 3_node --add_slave_mdm_name mdm2 --add_tb_name tb
  scli --rename_system --new_name scaleio
fi
scli --login --username admin --password "$PW"
scli --query_all | grep -q 'pd1' || scli --add_protection_domain --protection_domain_name pd1
scli --query_all | grep -q 'sp1' || scli --add_storage_pool --protection_domain_name pd1 --storage_pool_name sp1
N=1
for SDS in "$IP" "$SEC" "$TB"; do
  scli --query_all_sds | grep -q "sds-$N" || scli --add_sds --sds_ip "$SDS" --device_path /dev/xvdf --storage_pool_name sp1 --protection_domain_name pd1 --sds_name "sds-$N"
  N=$((N + 1))
done
rpm -q EMC-ScaleIO-gateway || GATEWAY_ADMIN_PASSWORD="$PW" rpm -Uvh "$A"/EMC-ScaleIO-gateway-*.x86_64.rpm
PROPS=/opt/emc/scaleio/gateway/webapps/ROOT/WEB-INF/classes/gatewayUser.properties
sed -i -e 's/^security.bypass_certificate_check=.*/security.bypass_certificate_check=true/' -e "s/^mdm.ip.addresses=.*/mdm.ip.addresses=$IP,$SEC/" "$PROPS"
systemctl restart scaleio-gateway || service scaleio-gateway restart
for i in $(seq 1 60); do
  if curl -ksf https://127.0.0.1/api/version; then break; fi
  sleep 5
done
curl -ksf https://127.0.0.1/api/version
scli --logout || true
'''

BOOT = r'''#!/bin/bash
# Bootstrap: install cfn-bootstrap, run cfn-init, check the role is really up, signal the stack.
exec > >(tee -a /var/log/scaleio-demo-bootstrap.log) 2>&1
set -x
signal() {
  cfn-signal -e "$1" --stack "${AWS::StackName}" --resource __RESOURCE__ --region "${AWS::Region}"
}
__INSTALL_BOOTSTRAP__
cfn-init -v --stack "${AWS::StackName}" --resource __RESOURCE__ --configsets setup --region "${AWS::Region}" || { signal 1; exit 1; }
__WAIT__
signal $?
'''

BOOTSTRAP_INSTALL = {
    "centos7": r'''yum -y install python3 python3-pip
pip3 install https://s3.amazonaws.com/cloudformation-examples/aws-cfn-bootstrap-py3-latest.tar.gz
export PATH=/usr/local/bin:$PATH''',
    "ubuntu14": r'''export DEBIAN_FRONTEND=noninteractive
apt-get -y update
apt-get -y install python3-setuptools
easy_install3 https://s3.amazonaws.com/cloudformation-examples/aws-cfn-bootstrap-py3-latest.tar.gz
export PATH=/usr/local/bin:$PATH''',
}


def sub(text):
    return {"Fn::Sub": text}


def instance(resource, os_key, image_param, mapping_key, instance_type, metadata_files, setup_cmd,
             wait_cmd, data_volume, condition=None, depends_on=None, tag_name=None):
    user_data = (BOOT.replace("__RESOURCE__", resource)
                 .replace("__INSTALL_BOOTSTRAP__", BOOTSTRAP_INSTALL[os_key])
                 .replace("__WAIT__", wait_cmd))
    bdm = [{"DeviceName": "/dev/sda1",
            "Ebs": {"VolumeSize": 30, "VolumeType": "gp2", "DeleteOnTermination": True}}]
    if data_volume:
        bdm.append({"DeviceName": "/dev/sdf",
                    "Ebs": {"VolumeSize": {"Ref": "DataVolumeSize"}, "VolumeType": "gp2",
                            "DeleteOnTermination": True}})
    res = {
        "Type": "AWS::EC2::Instance",
        "Metadata": {
            "cfn-lint": {"config": {"ignore_checks": ["W1030"]}},
            "AWS::CloudFormation::Init": {
                "configSets": {"setup": ["setup"]},
                "setup": {
                    "files": metadata_files,
                    "commands": {"01-setup": {"command": setup_cmd}},
                },
            }
        },
        "CreationPolicy": {"ResourceSignal": {"Count": 1, "Timeout": "PT45M"}},
        "Properties": {
            "ImageId": {"Fn::If": [image_param + "Given", {"Ref": image_param},
                                   {"Fn::FindInMap": ["RegionImages", {"Ref": "AWS::Region"}, mapping_key]}]},
            "InstanceType": {"Ref": instance_type},
            "KeyName": {"Ref": "KeyName"},
            "IamInstanceProfile": {"Ref": "InstanceProfile"},
            "BlockDeviceMappings": bdm,
            "NetworkInterfaces": [{
                "DeviceIndex": "0",
                "AssociatePublicIpAddress": True,
                "SubnetId": {"Fn::If": ["CreateNetwork", {"Ref": "Subnet"}, {"Ref": "ExistingSubnetId"}]},
                "GroupSet": [{"Ref": "ClusterSecurityGroup"}],
            }],
            "UserData": {"Fn::Base64": sub(user_data)},
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
            "Tags": [{"Key": "Name", "Value": sub("${AWS::StackName}-" + (tag_name or resource.lower()))}],
        },
    }
    if condition:
        res["Condition"] = condition
    if depends_on:
        res["DependsOn"] = depends_on
    return res


def script_file(path, text):
    if "imds " in text and "imds() {" not in text:
        first, rest = text.split("\n", 1)
        text = first + "\n" + IMDS_FN + rest
    return {path: {"content": sub(text) if "${" in text else text, "mode": "000700", "owner": "root", "group": "root"}}


def template(agent_os):
    os_label = {"ubuntu14": "Ubuntu 14.04", "rhel7": "RHEL/CentOS 7"}[agent_os]
    agent_image_key = {"ubuntu14": "Ubuntu1404", "rhel7": "CentOS7"}[agent_os]
    agent_boot_os = {"ubuntu14": "ubuntu14", "rhel7": "centos7"}[agent_os]

    params = {
        "KeyName": {"Type": "AWS::EC2::KeyPair::KeyName",
                    "Description": "EC2 key pair for SSH access to every instance"},
        "AllowedCIDR": {"Type": "String", "AllowedPattern": r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$",
                        "ConstraintDescription": "an IPv4 CIDR such as 203.0.113.7/32",
                        "Description": "Who may reach SSH and the Mesos, Marathon and scheduler web ports (for example your own address/32)"},
        "MasterInstanceType": {"Type": "String", "Default": "m4.large", "AllowedValues": XEN_TYPES,
                               "Description": "Instance type of the master (ZooKeeper, Mesos master, Marathon); Xen types only, see the guide"},
        "AgentInstanceType": {"Type": "String", "Default": "m4.xlarge", "AllowedValues": XEN_TYPES,
                              "Description": "Instance type of the Mesos agents; MDM agents need 1.5 CPU and 3 GB free for the executor"},
        "AgentCount": {"Type": "Number", "Default": "3", "AllowedValues": [str(n) for n in range(3, MAX_AGENTS + 1)],
                       "Description": "Number of Mesos agents (3 to 6), each with a spare EBS volume for ScaleIO"},
        "DataVolumeSize": {"Type": "Number", "Default": 100, "MinValue": 100, "MaxValue": 16384,
                           "Description": "Size in GiB of the spare EBS volume (/dev/xvdf) on every agent and ScaleIO node; ScaleIO needs at least 100"},
        "ExistingVpcId": {"Type": "String", "Default": "", "AllowedPattern": r"^(vpc-[0-9a-f]+)?$",
                          "Description": "Leave empty to create a VPC; otherwise the VPC to use (then ExistingSubnetId is required)"},
        "ExistingSubnetId": {"Type": "String", "Default": "", "AllowedPattern": r"^(subnet-[0-9a-f]+)?$",
                             "Description": "Public subnet of ExistingVpcId to place the instances in"},
        "SchedulerPort": {"Type": "Number", "Default": 31500, "MinValue": 31000, "MaxValue": 32000,
                          "Description": "Port of the scheduler's HTTP API and status page (inside the agents' 31000-32000 port range; must match portDefinitions in the Marathon JSON)"},
        "ScaleIOPlacement": {"Type": "String", "Default": "none",
                             "AllowedValues": ["none", "personas", "personas-and-devices"],
                             "Description": "Agent attributes for placement: none, scaleio-persona on agents 1-3, or also scaleio-sds-*/scaleio-sdc-* for /dev/xvdf in pd1/sp1"},
        "CreateScaleIOCluster": {"Type": "String", "Default": "false", "AllowedValues": ["false", "true"],
                                 "Description": "true: also create a 3-node ScaleIO cluster (CentOS 7, not Mesos agents) for the pre-configured mode"},
        "ScaleIOClusterBundleUrl": {"Type": "String", "Default": "",
                                    "Description": "With CreateScaleIOCluster=true: URL of the rhel7 bundle (scaleio-bundle-2.0.1-2072-rhel7-<8 hex>.tar.gz) the ScaleIO nodes install from"},
        "ScaleIOClusterBundleSha256": {"Type": "String", "Default": "", "AllowedPattern": r"^([0-9a-f]{64})?$",
                                       "Description": "With CreateScaleIOCluster=true: SHA-256 of that bundle (the .sha256 sidecar written by cargo xtask bundle)"},
        "MesosphereRepoUrl": {"Type": "String", "Default": "http://repos.mesosphere.com",
                              "Description": "Base URL of the Mesosphere package repositories (or a mirror with the same layout)"},
        "MesosVersion": {"Type": "String", "Default": "1.0.1", "AllowedPattern": r"^\d+\.\d+\.\d+$",
                         "Description": "Mesos package version on master and agents (1.0.1 matches the dvdi isolator module in the bundle)"},
        "MarathonVersion": {"Type": "String", "Default": "1.3.13", "AllowedPattern": r"^\d+\.\d+\.\d+$",
                            "Description": "Marathon package version on the master"},
        "MasterImageId": {"Type": "String", "Default": "", "AllowedPattern": r"^(ami-[0-9a-f]+)?$",
                          "Description": "CentOS 7 AMI for the master and ScaleIO nodes; empty = the RegionImages mapping (placeholders, see the guide)"},
        "AgentImageId": {"Type": "String", "Default": "", "AllowedPattern": r"^(ami-[0-9a-f]+)?$",
                         "Description": os_label + " AMI for the agents; empty = the RegionImages mapping (placeholders, see the guide)"},
    }

    conditions = {
        "CreateNetwork": {"Fn::Equals": [{"Ref": "ExistingVpcId"}, ""]},
        "CreateCluster": {"Fn::Equals": [{"Ref": "CreateScaleIOCluster"}, "true"]},
        "MasterImageIdGiven": {"Fn::Not": [{"Fn::Equals": [{"Ref": "MasterImageId"}, ""]}]},
        "AgentImageIdGiven": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AgentImageId"}, ""]}]},
    }
    for n in range(4, MAX_AGENTS + 1):
        conditions[f"HasAgent{n}"] = {"Fn::Or": [{"Fn::Equals": [{"Ref": "AgentCount"}, str(k)]}
                                                 for k in range(n, MAX_AGENTS + 1)]} \
            if MAX_AGENTS - n + 1 >= 2 else {"Fn::Equals": [{"Ref": "AgentCount"}, str(n)]}

    rules = {
        "SubnetGoesWithVpc": {
            "RuleCondition": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingVpcId"}, ""]}]},
            "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ExistingSubnetId"}, ""]}]},
                            "AssertDescription": "ExistingSubnetId is required when ExistingVpcId is set"}],
        },
        "ClusterNeedsBundle": {
            "RuleCondition": {"Fn::Equals": [{"Ref": "CreateScaleIOCluster"}, "true"]},
            "Assertions": [
                {"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ScaleIOClusterBundleUrl"}, ""]}]},
                 "AssertDescription": "ScaleIOClusterBundleUrl is required when CreateScaleIOCluster is true"},
                {"Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "ScaleIOClusterBundleSha256"}, ""]}]},
                 "AssertDescription": "ScaleIOClusterBundleSha256 is required when CreateScaleIOCluster is true"},
            ],
        },
    }

    placeholder = "ami-00000000000000000"
    mappings = {"RegionImages": {r: {"CentOS7": placeholder, agent_image_key: placeholder} for r in REGIONS}}

    res = {}
    # --- network -------------------------------------------------------------------------------
    res["Vpc"] = {"Type": "AWS::EC2::VPC", "Condition": "CreateNetwork",
                  "Properties": {"CidrBlock": "10.20.0.0/16", "EnableDnsSupport": True, "EnableDnsHostnames": True,
                                 "Tags": [{"Key": "Name", "Value": sub("${AWS::StackName}")}]}}
    res["InternetGateway"] = {"Type": "AWS::EC2::InternetGateway", "Condition": "CreateNetwork"}
    res["GatewayAttachment"] = {"Type": "AWS::EC2::VPCGatewayAttachment", "Condition": "CreateNetwork",
                                "Properties": {"VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "InternetGateway"}}}
    res["Subnet"] = {"Type": "AWS::EC2::Subnet", "Condition": "CreateNetwork",
                     "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.20.1.0/24",
                                    "AvailabilityZone": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
                                    "MapPublicIpOnLaunch": True}}
    res["RouteTable"] = {"Type": "AWS::EC2::RouteTable", "Condition": "CreateNetwork",
                         "Properties": {"VpcId": {"Ref": "Vpc"}}}
    res["DefaultRoute"] = {"Type": "AWS::EC2::Route", "Condition": "CreateNetwork", "DependsOn": "GatewayAttachment",
                           "Properties": {"RouteTableId": {"Ref": "RouteTable"}, "DestinationCidrBlock": "0.0.0.0/0",
                                          "GatewayId": {"Ref": "InternetGateway"}}}
    res["SubnetRouteTable"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Condition": "CreateNetwork",
                               "Properties": {"SubnetId": {"Ref": "Subnet"}, "RouteTableId": {"Ref": "RouteTable"}}}

    # --- security group: external (AllowedCIDR) and intra-cluster (same group) ---------------------
    external = [(22, 22, "SSH"), (5050, 5050, "Mesos master UI and API"), (5051, 5051, "Mesos agent (sandbox logs in the UI)"),
                (8080, 8080, "Marathon UI and API")]
    ingress = [{"IpProtocol": "tcp", "FromPort": a, "ToPort": b, "CidrIp": {"Ref": "AllowedCIDR"}, "Description": d}
               for a, b, d in external]
    ingress.append({"IpProtocol": "tcp", "FromPort": {"Ref": "SchedulerPort"}, "ToPort": {"Ref": "SchedulerPort"},
                    "CidrIp": {"Ref": "AllowedCIDR"}, "Description": "scaleio-scheduler status page and API"})
    res["ClusterSecurityGroup"] = {
        "Type": "AWS::EC2::SecurityGroup",
        "Properties": {
            "GroupDescription": "Mesos, Marathon, ZooKeeper, ScaleIO and scaleio-scheduler",
            "VpcId": {"Fn::If": ["CreateNetwork", {"Ref": "Vpc"}, {"Ref": "ExistingVpcId"}]},
            "SecurityGroupIngress": ingress,
        },
    }
    intra = [("Http", 80, 80, "artifacts served by the master to Marathon tasks"),
             ("ScaleIOGateway", 443, 443, "ScaleIO REST gateway"),
             ("ZooKeeper", 2181, 2181, "ZooKeeper"),
             ("MesosMaster", 5050, 5050, "Mesos master"),
             ("MesosAgent", 5051, 5051, "Mesos agent"),
             ("ScaleIOMdm", 6611, 6611, "ScaleIO MDM"),
             ("ScaleIOSds", 7072, 7072, "ScaleIO SDS"),
             ("Marathon", 8080, 8080, "Marathon"),
             ("ScaleIOMdmCluster", 9011, 9011, "ScaleIO MDM cluster members"),
             ("ScaleIOLia", 9099, 9099, "ScaleIO LIA"),
             ("TaskPorts", 31000, 32000, "Mesos task ports (the scheduler's artifacts and API)")]
    for name, a, b, d in intra:
        res[f"Intra{name}Ingress"] = {
            "Type": "AWS::EC2::SecurityGroupIngress",
            "Properties": {"GroupId": {"Ref": "ClusterSecurityGroup"}, "IpProtocol": "tcp", "FromPort": a, "ToPort": b,
                           "SourceSecurityGroupId": {"Ref": "ClusterSecurityGroup"}, "Description": d},
        }

    # --- the admin password: generated, never a parameter, read by instances with their role -------
    res["AdminPasswordSecret"] = {
        "Type": "AWS::SecretsManager::Secret",
        "Properties": {
            "Description": sub("ScaleIO admin password for stack ${AWS::StackName}"),
            "GenerateSecretString": {"PasswordLength": 20, "ExcludePunctuation": True, "RequireEachIncludedType": True},
        },
    }
    res["InstanceRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "scaleio-demo-instance", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                     "Resource": {"Ref": "AdminPasswordSecret"}},
                    {"Effect": "Allow",
                     "Action": ["cloudformation:DescribeStackResource", "cloudformation:SignalResource"],
                     "Resource": {"Ref": "AWS::StackId"}}]}}],
        },
    }
    res["InstanceProfile"] = {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "InstanceRole"}]}}

    # --- master -------------------------------------------------------------------------------
    res["Master"] = instance(
        "Master", "centos7", "MasterImageId", "CentOS7", "MasterInstanceType",
        {**script_file("/usr/local/sbin/scaleio-demo-setup", MASTER_SETUP),
         **script_file("/usr/local/sbin/scaleio-demo-wait", MASTER_WAIT)},
        "/usr/local/sbin/scaleio-demo-setup", "/usr/local/sbin/scaleio-demo-wait", data_volume=False,
        depends_on=["IntraZooKeeperIngress", "IntraMesosMasterIngress", "IntraMesosAgentIngress"])

    # --- agents -------------------------------------------------------------------------------
    for n in range(1, MAX_AGENTS + 1):
        setup = ("#!/bin/bash\n# Mesos agent " + str(n) + " (" + os_label + ").\nset -e  # never -x: the admin password must not reach the cfn-init log\n" + SECRET_FN
                 + AGENT_INSTALL[agent_os]
                 + AGENT_COMMON.replace("__OS__", agent_os).replace("__INDEX__", str(n))
                 + AGENT_RESTART[agent_os])
        res[f"Agent{n}"] = instance(
            f"Agent{n}", agent_boot_os, "AgentImageId", agent_image_key, "AgentInstanceType",
            {**script_file("/usr/local/sbin/scaleio-demo-setup", setup),
             **script_file("/usr/local/sbin/scaleio-demo-wait", AGENT_WAIT)},
            "/usr/local/sbin/scaleio-demo-setup", "/usr/local/sbin/scaleio-demo-wait", data_volume=True,
            condition=None if n <= 3 else f"HasAgent{n}", tag_name=f"agent-{n}")

    # --- optional pre-created ScaleIO cluster --------------------------------------------------
    for resource, role, deps in [("MdmSecondary", "secondary", None), ("MdmTiebreaker", "tiebreaker", None),
                                 ("MdmPrimary", "primary", None)]:
        setup = MDM_SETUP.replace("__ROLE__", role)
        if role != "primary":
            setup = setup.split('if [ "$ROLE" != primary ]; then exit 0; fi')[0]
        setup = setup.replace("log\n", "log\n" + SECRET_FN, 1)
        res[resource] = instance(
            resource, "centos7", "MasterImageId", "CentOS7", "AgentInstanceType",
            script_file("/usr/local/sbin/scaleio-demo-setup", setup),
            "/usr/local/sbin/scaleio-demo-setup", "true", data_volume=True,
            condition="CreateCluster", depends_on=deps, tag_name=f"scaleio-{role}")

    outputs = {
        "MesosUrl": {"Description": "Mesos master web UI and API",
                     "Value": sub("http://${Master.PublicIp}:5050/")},
        "MarathonUrl": {"Description": "Marathon web UI and API (POST the scheduler's JSON to /v2/apps)",
                        "Value": sub("http://${Master.PublicIp}:8080/")},
        "SchedulerUrl": {"Description": "scaleio-scheduler status page, once deployed and pinned to SchedulerHost as the guide does",
                         "Value": sub("http://${Agent1.PublicIp}:${SchedulerPort}/")},
        "SchedulerHost": {"Description": "Mesos hostname of agent 1, where the guide pins the scheduler (hostname CLUSTER constraint)",
                          "Value": {"Fn::GetAtt": ["Agent1", "PrivateIp"]}},
        "MasterIp": {"Description": "Private IP of the master: {{MASTER_IP}} in the Marathon JSON (Mesos, ZooKeeper)",
                     "Value": {"Fn::GetAtt": ["Master", "PrivateIp"]}},
        "MasterPublicIp": {"Description": "Public IP of the master, for scp/ssh",
                           "Value": {"Fn::GetAtt": ["Master", "PublicIp"]}},
        "ArtifactBaseUrl": {"Description": "Where the master serves /var/www/html/scaleio: {{ARTIFACT_BASE_URL}} in the Marathon JSON",
                            "Value": sub("http://${Master.PrivateIp}/scaleio")},
        "AdminPasswordSecretArn": {"Description": "Secrets Manager secret with the ScaleIO admin password (also in /etc/scaleio/admin-password, 0600, on every node)",
                                   "Value": {"Ref": "AdminPasswordSecret"}},
        "PrimaryMdmIp": {"Condition": "CreateCluster", "Description": "{{PRIMARY_MDM_IP}} for scaleio-scheduler.json",
                         "Value": {"Fn::GetAtt": ["MdmPrimary", "PrivateIp"]}},
        "SecondaryMdmIp": {"Condition": "CreateCluster", "Description": "{{SECONDARY_MDM_IP}} for scaleio-scheduler.json",
                           "Value": {"Fn::GetAtt": ["MdmSecondary", "PrivateIp"]}},
        "TiebreakerMdmIp": {"Condition": "CreateCluster", "Description": "{{TIEBREAKER_MDM_IP}} for scaleio-scheduler.json",
                            "Value": {"Fn::GetAtt": ["MdmTiebreaker", "PrivateIp"]}},
        "GatewayHost": {"Condition": "CreateCluster", "Description": "{{GATEWAY_HOST}} for scaleio-scheduler.json (the gateway runs on the primary MDM)",
                        "Value": {"Fn::GetAtt": ["MdmPrimary", "PrivateIp"]}},
    }

    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ScaleIO framework for Apache Mesos demo: Mesos master with ZooKeeper and Marathon, {os_label} agents with spare EBS volumes, optional pre-created 3-node ScaleIO cluster",
        "Metadata": {
            "AWS::CloudFormation::Interface": {
                "ParameterGroups": [
                    {"Label": {"default": "Access"}, "Parameters": ["KeyName", "AllowedCIDR"]},
                    {"Label": {"default": "Cluster"}, "Parameters": ["AgentCount", "MasterInstanceType", "AgentInstanceType", "DataVolumeSize", "SchedulerPort", "ScaleIOPlacement"]},
                    {"Label": {"default": "Pre-configured ScaleIO cluster"}, "Parameters": ["CreateScaleIOCluster", "ScaleIOClusterBundleUrl", "ScaleIOClusterBundleSha256"]},
                    {"Label": {"default": "Network"}, "Parameters": ["ExistingVpcId", "ExistingSubnetId"]},
                    {"Label": {"default": "Software and images"}, "Parameters": ["MesosphereRepoUrl", "MesosVersion", "MarathonVersion", "MasterImageId", "AgentImageId"]},
                ]
            },
            "RegionImagesArePlaceholders": "Every RegionImages entry is ami-00000000000000000, a placeholder: pass MasterImageId and AgentImageId, or fill the table with AMIs you checked (see demo/README.md).",
        },
        "Parameters": params,
        "Rules": rules,
        "Mappings": mappings,
        "Conditions": conditions,
        "Resources": res,
        "Outputs": outputs,
    }


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "demo/cloudformation"
    for os_name, file in [("ubuntu14", "scaleio-mesos-ubuntu14.json"), ("rhel7", "scaleio-mesos-rhel7.json")]:
        with open(f"{out}/{file}", "w") as f:
            json.dump(template(os_name), f, indent=2)
            f.write("\n")
